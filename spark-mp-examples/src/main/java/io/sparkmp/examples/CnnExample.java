package io.sparkmp.examples;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.io.PrintStream;
import java.util.Locale;

/**
 * Example: a convolutional network on generated images ({@link ShapeImages}: horizontal and vertical bars, square
 * outlines and discs in noise), trained pipeline-parallel with the cut between its two convolution blocks: stage 0 holds conv 3x3 1-&gt;8
 * and a 2x2 max-pool, stage 1 conv 3x3 8-&gt;16, a 2x2 max-pool, dense 64 and softmax over the 4 classes (ReLU, Adam,
 * FLOAT). The images are made on the executors, 64 per DataSet, from their index; nothing is downloaded. After
 * training it prints the accuracy of the trained network on images it has not seen.
 *
 * <p>{@code mvn -B -q -DskipTests -Pexample-cnn package} (embedded local Spark), or
 * {@code spark-submit --class io.sparkmp.examples.CnnExample <jar> --output cnn-model.zip}; {@code --help} lists the
 * flags.
 */
public final class CnnExample {
    static final int CHUNK = 64;

    static final ExampleJob.Definition DEFINITION = new ExampleJob.Definition("cnn",
            "Trains a CNN on generated images of 4 shapes, pipeline-parallel, the cut between its convolution blocks",
            new String[][] {
                    {"--examples", "<n>", "training images per epoch (default 2048)"},
                    {"--side", "<pixels>", "image side, a multiple of 4, at least 8 (default 16)"},
                    {"--test-examples", "<n>", "fresh images the trained network is evaluated on (default 512)"},
            }, 2, 32, 4, CnnExample::fromFlags);

    private CnnExample() {
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err, null));
    }

    static int run(String[] args, PrintStream out, PrintStream err, SparkSession existing) {
        return ExampleJob.run(DEFINITION, CnnExample.class.getName(), args, out, err, existing);
    }

    private static ExampleJob.Example fromFlags(Flags f) {
        int side = f.integer("--side", 16, 8);
        if (side % 4 != 0) {
            throw new IllegalArgumentException("--side should be a multiple of 4 (two 2x2 poolings), but was `" + side + "`");
        }
        return new Shapes(f.integer("--examples", 2048, 1), side, f.integer("--test-examples", 512, 0),
                f.longValue("--seed") != null ? f.longValue("--seed") : 42L);
    }

    /** The network: two convolution blocks, a dense layer and softmax over the shapes. */
    static MultiLayerConfiguration model(int side, long seed) {
        return new NeuralNetConfiguration.Builder().seed(seed).dataType(DataType.FLOAT).updater(new Adam(5e-3))
                .weightInit(WeightInit.RELU).activation(Activation.RELU).convolutionMode(ConvolutionMode.Same).list()
                .layer(new ConvolutionLayer.Builder(3, 3).name("conv1").nOut(8).build())
                .layer(new SubsamplingLayer.Builder(SubsamplingLayer.PoolingType.MAX).name("pool1").kernelSize(2, 2)
                        .stride(2, 2).build())
                .layer(new ConvolutionLayer.Builder(3, 3).name("conv2").nOut(16).build())
                .layer(new SubsamplingLayer.Builder(SubsamplingLayer.PoolingType.MAX).name("pool2").kernelSize(2, 2)
                        .stride(2, 2).build())
                .layer(new DenseLayer.Builder().name("dense").nOut(64).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).name("out").nOut(ShapeImages.CLASSES)
                        .activation(Activation.SOFTMAX).weightInit(WeightInit.XAVIER).build())
                .setInputType(InputType.convolutional(side, side, 1)).build();
    }

    private record Shapes(int examples, int side, int testExamples, long seed) implements ExampleJob.Example {
        @Override
        public MultiLayerConfiguration conf() {
            return model(side, seed);
        }

        @Override
        public int[] twoStageSplit() {
            return new int[] {0, 2, 6};
        }

        @Override
        public JavaRDD<DataSet> trainingData(JavaSparkContext sc) {
            int px = side; // locals: the function goes to the executors without this record
            long sd = seed;
            return ExampleJob.chunked(sc, 0, examples, CHUNK, (s, n) -> ShapeImages.examples(s, n, px, sd));
        }

        @Override
        public void describe(MultiLayerNetwork trained, PrintStream out) {
            if (testExamples == 0) {
                return;
            }
            out.printf(Locale.ROOT, "held-out accuracy %.3f on %d new images (chance %.2f)%n",
                    accuracy(trained, examples, testExamples, side, seed), testExamples, 1.0 / ShapeImages.CLASSES);
        }
    }

    /** Accuracy of {@code net} on images {@code [first, first + count)}, which training did not see when first is past it. */
    static double accuracy(MultiLayerNetwork net, long first, int count, int side, long seed) {
        return ExampleJob.accuracy(net, ShapeImages.CLASSES, first, count, CHUNK,
                (s, n) -> ShapeImages.examples(s, n, side, seed));
    }
}
