package io.sparkmp.bench;

import io.sparkmp.runtime.ActionRecorder;
import io.sparkmp.runtime.InProcessPipeline;
import io.sparkmp.runtime.PipelineSpec;
import io.sparkmp.runtime.RankTimeline;
import io.sparkmp.runtime.StepMetrics;
import io.sparkmp.runtime.TimelineSampling;
import io.sparkmp.schedule.ScheduleKind;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What recording the timeline costs: an in-process two-stage 1F1B pipeline trained with the timeline off,
 * with the default sampling (steps 1-3 and every 100th) and with every step recorded, rounds interleaved;
 * prints the median steps/s of each (step 0 left out), the median within-round ratio to "off", the events
 * recorded, and the recorder's own cost per event. Asserts nothing.
 *
 * <p>Run: {@code java -cp <spark-mp-examples classpath> io.sparkmp.bench.TimelineOverheadBenchmark [rounds steps]}.
 */
public final class TimelineOverheadBenchmark {

    private TimelineOverheadBenchmark() {
    }

    /** A model and its pipeline shape. */
    private record Shape(String name, int in, int width, int hidden, int classes, int microBatches, int batch) {
    }

    public static void main(String[] args) {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        int steps = args.length > 1 ? Integer.parseInt(args[1]) : 60;
        System.out.printf(Locale.ROOT, "TimelineOverheadBenchmark: %d rounds x %d steps, in-process P=2 1F1B, FLOAT, "
                + "OMP_NUM_THREADS=%s, %d cores%n", rounds, steps, System.getenv("OMP_NUM_THREADS"),
                Runtime.getRuntime().availableProcessors());
        List<Shape> shapes = List.of(new Shape("tiny 10-32x3-3, M=16 (many short actions)", 10, 32, 3, 3, 16, 64),
                new Shape("mlp 784-512x2-10, M=8", 784, 512, 2, 10, 8, 128));
        recorderCost();
        System.out.printf("%-44s %-26s %9s %12s %10s%n", "model", "timeline", "steps/s", "vs off", "events");
        for (Shape s : shapes) {
            PipelineSpec spec = spec(s);
            List<DataSet> data = data(s, steps);
            Map<String, TimelineSampling> modes = new java.util.LinkedHashMap<>();
            modes.put("off", null);
            modes.put("default (1-3, every 100)", new TimelineSampling(1, 3, 100, 20_000));
            modes.put("every step", new TimelineSampling(0, steps, 0, steps * 256));
            Map<String, double[]> rates = new HashMap<>();
            Map<String, Integer> events = new HashMap<>();
            modes.keySet().forEach(k -> rates.put(k, new double[rounds]));
            fit(spec, data, null); // warm-up of JIT and ND4J
            for (int r = 0; r < rounds; r++) {
                for (Map.Entry<String, TimelineSampling> m : modes.entrySet()) {
                    InProcessPipeline.Result res = fit(spec, data, m.getValue());
                    rates.get(m.getKey())[r] = stepsPerSecond(res.metrics());
                    events.put(m.getKey(), res.timelines().stream().mapToInt(RankTimeline::size).sum());
                }
            }
            // Rounds run the modes back to back: the ratio within a round is less exposed to a busy machine.
            for (String k : modes.keySet()) {
                double[] ratio = new double[rounds];
                for (int r = 0; r < rounds; r++) {
                    ratio[r] = rates.get(k)[r] / rates.get("off")[r];
                }
                System.out.printf(Locale.ROOT, "%-44s %-26s %9.1f %+11.2f%% %10d%n", s.name(), k,
                        median(rates.get(k)), 100 * (median(ratio) - 1), events.get(k));
            }
        }
    }

    /**
     * The recorder's own cost, free of the pipeline's scheduling noise: nanoseconds one {@code record} call of a
     * sampled step adds to a loop that reads {@code System.nanoTime()} as the worker does per action (an
     * unsampled step adds one branch on a flag the worker sets per step).
     */
    private static void recorderCost() {
        int n = 2_000_000;
        double kept = Double.MAX_VALUE;
        double bare = Double.MAX_VALUE;
        long sink = 0;
        for (int round = 0; round < 7; round++) {
            ActionRecorder recorder = new ActionRecorder(0, new TimelineSampling(0, 1, 0, n));
            long t0 = System.nanoTime();
            for (int i = 0; i < n; i++) {
                long now = System.nanoTime();
                recorder.record(0, 1, "F", i & 15, now, now);
            }
            long t1 = System.nanoTime();
            for (int i = 0; i < n; i++) {
                sink += System.nanoTime();
            }
            long t2 = System.nanoTime();
            kept = Math.min(kept, (t1 - t0) / (double) n);
            bare = Math.min(bare, (t2 - t1) / (double) n);
        }
        System.out.printf(Locale.ROOT, "recorder: %.1f ns per kept event on top of %.1f ns for the nanoTime read "
                + "(best of 7 x %d)%s%n", kept - bare, bare, n, sink == 42 ? " " : "");
    }

    private static InProcessPipeline.Result fit(PipelineSpec spec, List<DataSet> data, TimelineSampling sampling) {
        return new InProcessPipeline(spec, null, Duration.ofSeconds(120), sampling).fit(data, 1);
    }

    /** Steps after the first over the sum of their wall times (the slower rank's). */
    private static double stepsPerSecond(List<StepMetrics> metrics) {
        Map<Long, Long> wall = new HashMap<>();
        for (StepMetrics m : metrics) {
            if (m.step() > 0) {
                wall.merge(m.step(), m.wallNanos(), Math::max);
            }
        }
        long total = wall.values().stream().mapToLong(Long::longValue).sum();
        return wall.size() / (total / 1e9);
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    private static PipelineSpec spec(Shape s) {
        NeuralNetConfiguration.ListBuilder b = new NeuralNetConfiguration.Builder().seed(42).dataType(DataType.FLOAT)
                .updater(new Adam(1e-3)).activation(Activation.RELU).list();
        for (int i = 0; i < s.hidden(); i++) {
            b.layer(new DenseLayer.Builder().nOut(s.width()).build());
        }
        MultiLayerConfiguration conf = b.layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT)
                .activation(Activation.SOFTMAX).nOut(s.classes()).build())
                .setInputType(InputType.feedForward(s.in())).build();
        int layers = s.hidden() + 1;
        return PipelineSpec.of(conf, new int[] {0, (layers + 1) / 2, layers}, ScheduleKind.ONE_F_ONE_B, 2, 1,
                s.microBatches(), s.batch(), 42);
    }

    private static List<DataSet> data(Shape s, int steps) {
        Nd4j.getRandom().setSeed(7);
        int classes = s.classes();
        List<DataSet> out = new ArrayList<>(steps);
        for (int i = 0; i < steps; i++) {
            INDArray x = Nd4j.rand(DataType.FLOAT, s.batch(), s.in());
            INDArray y = Nd4j.zeros(DataType.FLOAT, s.batch(), classes);
            for (int j = 0; j < s.batch(); j++) {
                y.putScalar(j, (i + j) % classes, 1f);
            }
            out.add(new DataSet(x, y));
        }
        return out;
    }
}
