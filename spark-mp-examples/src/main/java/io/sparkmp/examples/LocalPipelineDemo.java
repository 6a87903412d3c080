package io.sparkmp.examples;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import io.sparkmp.runtime.InProcessPipeline;
import io.sparkmp.runtime.PipelineSpec;
import io.sparkmp.runtime.StepMetrics;
import io.sparkmp.schedule.ScheduleKind;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * Trains a small MLP on synthetic data through a 2-stage pipeline (1F1B, 4 micro-batches) in one JVM,
 * no Spark, and prints the loss of every step. Usage: {@code LocalPipelineDemo [epochs]}.
 */
public final class LocalPipelineDemo {

    private LocalPipelineDemo() {
    }

    public static void main(String[] args) {
        int epochs = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(42).dataType(DataType.FLOAT)
                .updater(new Adam(0.01)).activation(Activation.RELU).list()
                .layer(new DenseLayer.Builder().nOut(32).build())
                .layer(new DenseLayer.Builder().nOut(32).build())
                .layer(new DenseLayer.Builder().nOut(32).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX).nOut(3).build())
                .setInputType(InputType.feedForward(10)).build();
        int batchSize = 32;
        PipelineSpec spec = PipelineSpec.of(conf, new int[] {0, 2, 4}, ScheduleKind.ONE_F_ONE_B, 2, 1, 4, batchSize, 42);
        List<DataSet> data = syntheticData(8, batchSize, new Random(7));

        System.out.println("spark-mp local pipeline demo: " + spec);
        InProcessPipeline.Result result = new InProcessPipeline(spec).fit(data, epochs);
        System.out.println(" step  loss      wall ms (rank 0 / rank 1)  wait ms (rank 0 / rank 1)");
        List<StepMetrics> m = result.metrics();
        for (int i = 0; i + 1 < m.size(); i += 2) {
            StepMetrics r0 = m.get(i);
            StepMetrics r1 = m.get(i + 1);
            System.out.printf("%5d  %.5f   %7.2f / %7.2f          %7.2f / %7.2f%n", r1.step(), r1.loss(),
                    r0.wallNanos() / 1e6, r1.wallNanos() / 1e6, r0.waitNanos() / 1e6, r1.waitNanos() / 1e6);
        }
        MultiLayerNetwork net = result.toNetwork();
        org.nd4j.evaluation.classification.Evaluation eval = new org.nd4j.evaluation.classification.Evaluation(3);
        for (DataSet ds : data) {
            eval.eval(ds.getLabels(), net.output(ds.getFeatures()));
        }
        double accuracy = eval.accuracy();
        System.out.printf("trained DL4J network: %d parameters, training accuracy %.3f%n", net.numParams(), accuracy);
    }

    /** Three classes separated by the sign pattern of two input features, plus noise features. */
    private static List<DataSet> syntheticData(int batches, int batchSize, Random r) {
        List<DataSet> out = new ArrayList<>();
        for (int b = 0; b < batches; b++) {
            INDArray x = Nd4j.zeros(DataType.FLOAT, batchSize, 10);
            INDArray y = Nd4j.zeros(DataType.FLOAT, batchSize, 3);
            for (int i = 0; i < batchSize; i++) {
                int c = r.nextInt(3);
                for (int j = 0; j < 10; j++) {
                    x.putScalar(i, j, r.nextGaussian() * 0.5);
                }
                x.putScalar(i, 0, x.getDouble(i, 0) + (c == 0 ? 2 : -1));
                x.putScalar(i, 1, x.getDouble(i, 1) + (c == 1 ? 2 : -1));
                y.putScalar(i, c, 1.0);
            }
            out.add(new DataSet(x, y));
        }
        return out;
    }
}
