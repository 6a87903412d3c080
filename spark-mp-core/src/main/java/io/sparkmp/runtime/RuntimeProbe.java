package io.sparkmp.runtime;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

import io.sparkmp.schedule.ActionType;
import io.sparkmp.schedule.ScheduleKind;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * Times the runtime's own fixed costs for the simulator, without building the model's layers: the LOAD action
 * of the stage worker's feed on a mini-batch of the model's input and label shapes (a fixed part per
 * micro-batch and a part per example, from loading the same mini-batch as 2 and as 8 micro-batches), and the
 * per-step work of a stage worker beyond its actions (step start, header, loss, metrics: the wall time of a
 * one-stage step of a one-layer model less the time in its actions).
 */
@io.sparkmp.Internal
public final class RuntimeProbe {

    private RuntimeProbe() {
    }

    /**
     * [fixed seconds per micro-batch, seconds per example] of LOAD for {@code conf} (input {@code inputType}) on
     * a mini-batch of {@code examples} (a multiple of 8), median of {@code repeats} after {@code warmup}.
     */
    public static double[] loadSeconds(MultiLayerConfiguration conf, InputType inputType, int examples, int warmup,
                                       int repeats) {
        if (examples <= 0 || examples % 8 != 0) {
            throw new IllegalArgumentException("examples must be a positive multiple of 8, found " + examples);
        }
        List<InputType> types = conf.getLayerActivationTypes(inputType);
        DataType dt = conf.getDataType();
        DataSet ds = new DataSet(Nd4j.rand(dt, withExamples(examples, inputType.getShape(false))),
                Nd4j.rand(dt, withExamples(examples, types.get(types.size() - 1).getShape(false))));
        int layers = conf.getConfs().size();
        double t2 = timeLoads(PipelineSpec.of(conf, new int[] {0, layers}, ScheduleKind.GPIPE, 1, 1, 2, examples, 1), ds,
                warmup, repeats);
        double t8 = timeLoads(PipelineSpec.of(conf, new int[] {0, layers}, ScheduleKind.GPIPE, 1, 1, 8, examples, 1), ds,
                warmup, repeats);
        // t(M) = M x fixed + examples x perExample. When noise makes a part negative it is 0 and the other part
        // carries the whole measured time (of 8 micro-batches for the fixed part, of 2 for the per-example part).
        double fixed = (t8 - t2) / 6;
        if (fixed <= 0) {
            return new double[] {0, t2 / examples};
        }
        double perExample = (t2 - 2 * fixed) / examples;
        if (perExample <= 0) {
            return new double[] {t8 / 8, 0};
        }
        return new double[] {fixed, perExample};
    }

    /** Median seconds of loading every micro-batch of {@code ds} once. */
    private static double timeLoads(PipelineSpec spec, DataSet ds, int warmup, int repeats) {
        MicroBatchFeed feed = new MicroBatchFeed(spec, 0, null);
        double[] t = new double[repeats];
        for (int r = -warmup; r < repeats; r++) {
            feed.begin(r + warmup, MiniBatch.of(ds));
            long t0 = System.nanoTime();
            for (int mb = 0; mb < spec.microBatches(); mb++) {
                feed.load(mb);
            }
            long t1 = System.nanoTime();
            if (r >= 0) {
                t[r] = (t1 - t0) / 1e9;
            }
        }
        return median(t);
    }

    /**
     * Median seconds per step that a stage worker spends outside its actions (one stage, one micro-batch, a
     * one-layer model of 8 inputs and 4 outputs, {@code repeats} steps after {@code warmup}).
     */
    public static double stepOverheadSeconds(int warmup, int repeats) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(1).dataType(DataType.FLOAT)
                .updater(new Sgd(0.1)).list()
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).activation(Activation.IDENTITY).nOut(4).build())
                .setInputType(InputType.feedForward(8)).build();
        PipelineSpec spec = PipelineSpec.of(conf, new int[] {0, 1}, ScheduleKind.GPIPE, 1, 1, 1, 8, 1);
        try (InProcessChannel ch = InProcessChannel.connect(1, java.time.Duration.ofSeconds(30)).get(0)) {
            StageWorker w = new StageWorker(spec, 0, ch, null);
            DataSet ds = new DataSet(Nd4j.rand(DataType.FLOAT, 8, 8), Nd4j.rand(DataType.FLOAT, 8, 4));
            double[] t = new double[repeats];
            for (int r = -warmup; r < repeats; r++) {
                StepMetrics m = w.runStep(r + warmup, ds);
                long inActions = 0;
                for (Map.Entry<ActionType, Long> e : m.nanosByAction().entrySet()) {
                    inActions += e.getValue();
                }
                if (r >= 0) {
                    t[r] = Math.max(0, m.wallNanos() - inActions) / 1e9;
                }
            }
            return median(t);
        }
    }

    private static long[] withExamples(int n, long[] shape) {
        long[] full = new long[shape.length + 1];
        full[0] = n;
        System.arraycopy(shape, 0, full, 1, shape.length);
        return full;
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }
}
