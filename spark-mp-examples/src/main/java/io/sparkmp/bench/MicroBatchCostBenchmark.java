package io.sparkmp.bench;

import io.sparkmp.runtime.InProcessPipeline;
import io.sparkmp.runtime.PipelineSpec;
import io.sparkmp.runtime.StepMetrics;
import io.sparkmp.schedule.ActionType;
import io.sparkmp.schedule.ScheduleKind;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * What cutting a mini-batch into M micro-batches costs on ONE thread, for {@link ThroughputBenchmark}'s model
 * (MLP 784-1024x4-10, FLOAT, Adam, batch 256): the bound it puts on a pipeline's speed-up over {@code fit}.
 *
 * <p>Part 1 runs the whole model as one stage ({@link InProcessPipeline}, P = 1, no Spark, no sockets) at each
 * M and prints the median step and its compute (forward + backward) and optimizer-step parts after warm-up; the
 * micro-batching factor is step(M = 1) / step(M), and a P-stage pipeline at that M can reach at most
 * P·M/(M+P−1) x that factor of one stage's speed (a perfect split, no bubble or transfer costs).
 *
 * <p>Part 2 attributes the extra compute: the three GEMMs of each dense layer (forward x·W, input gradient
 * δ·Wᵀ, weight gradient xᵀ·δ) at B/M rows, M times, against once at B rows, and the M−1 sums of a micro-batch's
 * gradient into the step's (every parameter, once per later micro-batch), each the median of repeats.
 *
 * <p>Run: {@code OMP_NUM_THREADS=1 mvn -B -q -pl spark-mp-examples -am -DskipTests -Pmicrobatch-bench package}
 * (about a minute); on a quiet machine (it prints the load average).
 */
public final class MicroBatchCostBenchmark {

    private static final int BATCH = 256;
    private static final int STEPS = 25;
    private static final int WARMUP = 5;
    private static final int[] MICRO = {1, 2, 4, 8, 16};

    private MicroBatchCostBenchmark() {
    }

    public static void main(String[] args) {
        double[] load = ThroughputBenchmark.loadAverages();
        System.out.printf(Locale.ROOT, "MicroBatchCostBenchmark: one thread, OMP_NUM_THREADS=%s, batch %d, load average %.2f%n",
                System.getenv().getOrDefault("OMP_NUM_THREADS", "unset"), BATCH, load[0]);
        MultiLayerConfiguration conf = ThroughputBenchmark.model(7);
        int layers = conf.getConfs().size();
        List<DataSet> data = new TeacherData(7).batches(STEPS, BATCH);
        System.out.println("\npart 1: the model as one stage (InProcessPipeline P=1, stash), median after " + WARMUP
                + " warm-up steps of " + STEPS);
        System.out.println("| M | rows | step ms | compute ms | optimizer ms | factor step(1)/step(M) | P=2 ceiling x one stage |");
        System.out.println("|---|------|---------|------------|--------------|------------------------|-------------------------|");
        double first = Double.NaN;
        for (int m : MICRO) {
            PipelineSpec spec = new PipelineSpec(conf.toJson(), new int[] {0, layers}, ScheduleKind.ONE_F_ONE_B, 1, 1, m,
                    BATCH, 7, new boolean[] {false});
            InProcessPipeline.Result r = new InProcessPipeline(spec, null, Duration.ofSeconds(120)).fit(data, 1);
            List<Double> step = new ArrayList<>();
            List<Double> compute = new ArrayList<>();
            List<Double> update = new ArrayList<>();
            for (StepMetrics s : r.metrics()) {
                if (s.step() < WARMUP) {
                    continue;
                }
                step.add(s.wallNanos() / 1e6);
                compute.add((s.nanosByAction().getOrDefault(ActionType.FORWARD, 0L)
                        + s.nanosByAction().getOrDefault(ActionType.BACKWARD, 0L)) / 1e6);
                update.add(s.nanosByAction().getOrDefault(ActionType.STEP, 0L) / 1e6);
            }
            double st = median(step);
            if (m == 1) {
                first = st;
            }
            double factor = first / st;
            System.out.printf(Locale.ROOT, "| %d | %d | %.1f | %.1f | %.1f | %.2f | %.2f |%n", m, BATCH / m, st,
                    median(compute), median(update), factor, 2.0 * m / (m + 1) * factor);
        }
        System.out.println("\npart 2: where the extra compute goes (raw ND4J calls, this model's dense layers)");
        System.out.println("| M | rows | GEMMs M x (B/M rows) ms | GEMMs once (B rows) ms | extra GEMM ms | gradient sums ms |");
        System.out.println("|---|------|-------------------------|------------------------|---------------|------------------|");
        long[][] shapes = new long[layers][];
        long params = 0;
        for (int i = 0; i < layers; i++) {
            FeedForwardLayer l = (FeedForwardLayer) conf.getConf(i).getLayer();
            shapes[i] = new long[] {l.getNIn(), l.getNOut()};
            params += l.getNIn() * l.getNOut() + l.getNOut();
        }
        INDArray sum = Nd4j.rand(DataType.FLOAT, params);
        INDArray one = Nd4j.rand(DataType.FLOAT, params);
        double once = gemms(shapes, BATCH, 1);
        for (int m : MICRO) {
            double split = gemms(shapes, BATCH / m, m);
            double sums = m == 1 ? 0 : timed(() -> {
                for (int k = 1; k < m; k++) {
                    sum.addi(one);
                }
            });
            System.out.printf(Locale.ROOT, "| %d | %d | %.1f | %.1f | %.1f | %.1f |%n", m, BATCH / m, split, once,
                    split - once, sums);
        }
        System.out.printf(Locale.ROOT, "load average at end %.2f%n", ThroughputBenchmark.loadAverages()[0]);
    }

    /** Median ms of the model's 3 GEMMs per layer at {@code rows} rows, {@code times} times over. */
    private static double gemms(long[][] shapes, int rows, int times) {
        List<INDArray[]> ops = new ArrayList<>();
        for (long[] s : shapes) {
            INDArray x = Nd4j.rand(DataType.FLOAT, rows, s[0]);
            INDArray w = Nd4j.rand(DataType.FLOAT, s[0], s[1]);
            INDArray d = Nd4j.rand(DataType.FLOAT, rows, s[1]);
            INDArray out = Nd4j.create(DataType.FLOAT, rows, s[1]);
            INDArray eps = Nd4j.create(DataType.FLOAT, rows, s[0]);
            INDArray dw = Nd4j.create(DataType.FLOAT, new long[] {s[0], s[1]}, 'f');
            ops.add(new INDArray[] {x, w, d, out, eps, dw});
        }
        return timed(() -> {
            for (int t = 0; t < times; t++) {
                for (INDArray[] o : ops) {
                    o[0].mmuli(o[1], o[3]);                                // forward x·W
                    o[2].mmuli(o[1].transpose(), o[4]);                    // input gradient δ·Wᵀ
                    Nd4j.gemm(o[0], o[2], o[5], true, false, 1.0, 0.0); // weight gradient xᵀ·δ
                }
            }
        });
    }

    /** Median ms of 7 runs after 3 warm-up runs. */
    private static double timed(Runnable r) {
        for (int i = 0; i < 3; i++) {
            r.run();
        }
        double[] t = new double[7];
        for (int i = 0; i < t.length; i++) {
            long t0 = System.nanoTime();
            r.run();
            t[i] = (System.nanoTime() - t0) / 1e6;
        }
        Arrays.sort(t);
        return t[t.length / 2];
    }

    private static double median(List<Double> v) {
        double[] a = v.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return a.length == 0 ? Double.NaN : a[a.length / 2];
    }
}
