package io.sparkmp.bench;

import io.sparkmp.model.LayerProfiler;
import io.sparkmp.model.ModelSlicer;
import io.sparkmp.model.StageSlice;
import io.sparkmp.runtime.InProcessPipeline;
import io.sparkmp.runtime.PipelineSpec;
import io.sparkmp.runtime.StepMetrics;
import io.sparkmp.schedule.ActionType;
import io.sparkmp.schedule.ScheduleKind;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;
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
 * <p>Part 3 prints the fixed cost per layer call that {@link LayerProfiler#measure} fits (see
 * {@link #fixedCostPerCall}).
 *
 * <p>Run: {@code OMP_NUM_THREADS=1 mvn -B -q -pl spark-mp-examples -am -DskipTests -Pmicrobatch-bench package}
 * (about three minutes; {@code -Dbench.args=--fixed-only} runs part 3 alone, {@code --part1-only} part 1,
 * {@code --gemm-split} part 4); on a quiet machine (it prints the load
 * average).
 */
public final class MicroBatchCostBenchmark {

    private static final int BATCH = 256;
    private static final int STEPS = 25;
    private static final int WARMUP = 5;
    private static final int[] MICRO = {1, 2, 4, 8, 16};
    private static final int REPEATS = 3;

    private MicroBatchCostBenchmark() {
    }

    public static void main(String[] args) {
        double[] load = ThroughputBenchmark.loadAverages();
        System.out.printf(Locale.ROOT, "MicroBatchCostBenchmark: one thread, OMP_NUM_THREADS=%s, batch %d, load average %.2f%n",
                System.getenv().getOrDefault("OMP_NUM_THREADS", "unset"), BATCH, load[0]);
        MultiLayerConfiguration conf = ThroughputBenchmark.model(7);
        if (Arrays.asList(args).contains("--fixed-only")) {
            fixedCostPerCall();
            return;
        }
        int layers = conf.getConfs().size();
        if (Arrays.asList(args).contains("--pipeline")) {
            pipelineRows(conf, layers, new TeacherData(7).batches(STEPS, BATCH));
            System.out.printf(Locale.ROOT, "load average at end %.2f%n", ThroughputBenchmark.loadAverages()[0]);
            return;
        }
        if (Arrays.asList(args).contains("--gemm-split")) {
            gemmSplit(conf);
            System.out.printf(Locale.ROOT, "load average at end %.2f%n", ThroughputBenchmark.loadAverages()[0]);
            return;
        }
        List<DataSet> data = new TeacherData(7).batches(STEPS, BATCH);
        System.out.println("\npart 1: the model as one stage (InProcessPipeline P=1, stash), median after " + WARMUP
                + " warm-up steps of " + STEPS + "; dW: weight gradients deferred to one product per step "
                + "(spark.mp.deferWeightGradients) or formed per micro-batch");
        System.out.println("(each row: the median over " + REPEATS + " runs, deferred and per micro-batch alternating, of "
                + "each run's median step; cpu ms: the process's CPU time per step over the whole run, warm-up included, "
                + "which a loaded machine disturbs less than wall time)");
        System.out.println("| M | rows | dW | step ms | cpu ms/step | compute ms | optimizer ms | factor step(1)/step(M) | P=2 ceiling x one stage |");
        System.out.println("|---|------|----|---------|-------------|------------|--------------|------------------------|-------------------------|");
        double first = Double.NaN;
        for (int m : MICRO) {
            boolean[] variants = m == 1 ? new boolean[] {true} : new boolean[] {false, true};
            double[][][] runs = new double[variants.length][4][REPEATS];
            for (int rep = 0; rep < REPEATS; rep++) {
                for (int v = 0; v < variants.length; v++) {
                    double[] one = partOneRun(conf, layers, m, variants[v], data);
                    for (int k = 0; k < 4; k++) {
                        runs[v][k][rep] = one[k];
                    }
                }
            }
            for (int v = 0; v < variants.length; v++) {
                double st = medianOf(runs[v][0]);
                if (m == 1) {
                    first = st;
                }
                double factor = first / st;
                System.out.printf(Locale.ROOT, "| %d | %d | %s | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f |%n", m, BATCH / m,
                        m == 1 ? "-" : variants[v] ? "deferred" : "per micro-batch", st, medianOf(runs[v][1]),
                        medianOf(runs[v][2]), medianOf(runs[v][3]), factor, 2.0 * m / (m + 1) * factor);
            }
        }
        if (Arrays.asList(args).contains("--part1-only")) {
            System.out.printf(Locale.ROOT, "load average at end %.2f%n", ThroughputBenchmark.loadAverages()[0]);
            return;
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
        fixedCostPerCall();
        System.out.printf(Locale.ROOT, "load average at end %.2f%n", ThroughputBenchmark.loadAverages()[0]);
    }

    /**
     * Part 3: the fixed cost of one layer call, the source of {@link LayerProfiler#ANALYTIC_CALL_SECONDS} (the
     * cost per call an analytic profile charges). Measured as the time of calls whose arithmetic is negligible:
     * each layer of a tiny model (convolution 3x3 1-1 on 6x6, max-pool 2x2, dense 9-16, softmax output 16-4; at
     * most a few hundred multiply-adds per example) as a one-layer stage of the runtime ({@link StageSlice}, as
     * {@link LayerProfiler#measure} times it: workspaces on, the gradient added to the step's sum), forward then
     * backward on one example, median of 301 calls after 50; so what a call takes there is what it costs beyond
     * its arithmetic. ({@code ThroughputBenchmark}'s model is not used: its dense calls are all arithmetic.)
     */
    private static void fixedCostPerCall() {
        System.out.println("\npart 3: time of one call of a tiny layer on one example (arithmetic negligible), median us; "
                + String.format(Locale.ROOT, "analytic profiles charge %.0f us per call",
                LayerProfiler.ANALYTIC_CALL_SECONDS * 1e6));
        System.out.println("| layer | forward us | backward us |");
        System.out.println("|-------|------------|-------------|");
        MultiLayerConfiguration tiny = new NeuralNetConfiguration.Builder().seed(3).updater(new Adam(1e-3))
                .dataType(DataType.FLOAT).activation(Activation.RELU).list()
                .layer(new ConvolutionLayer.Builder(3, 3).nOut(1).padding(1, 1).build())
                .layer(new SubsamplingLayer.Builder(SubsamplingLayer.PoolingType.MAX).kernelSize(2, 2).stride(2, 2).build())
                .layer(new DenseLayer.Builder().nOut(16).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(4).activation(Activation.SOFTMAX)
                        .build())
                .setInputType(InputType.convolutional(6, 6, 1)).build();
        int n = tiny.getConfs().size();
        int[] everyLayer = java.util.stream.IntStream.rangeClosed(0, n).toArray();
        INDArray x = Nd4j.rand(DataType.FLOAT, 1, 1, 6, 6);
        List<Double> calls = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            StageSlice slice = ModelSlicer.slice(tiny, everyLayer, i, 3, null);
            INDArray labels = slice.isLast() ? Nd4j.create(new float[] {1, 0, 0, 0}, 1, 4) : null;
            INDArray eps = null;
            INDArray next = null;
            if (labels == null) {
                slice.beginStep(0, 0, 1);
                next = slice.forward(0, x, null).dup(); // the next layer's input
                eps = Nd4j.onesLike(next);
                slice.backward(0, eps);
            }
            double[] f = new double[301];
            double[] b = new double[301];
            for (int r = -50; r < f.length; r++) {
                slice.beginStep(0, 0, 1);
                long t0 = System.nanoTime();
                slice.forward(0, x, null);
                long t1 = System.nanoTime();
                if (labels != null) {
                    slice.backwardWithLabels(0, labels, null);
                } else {
                    slice.backward(0, eps);
                }
                long t2 = System.nanoTime();
                if (r >= 0) {
                    f[r] = (t1 - t0) / 1e3;
                    b[r] = (t2 - t1) / 1e3;
                }
            }
            slice.release();
            Arrays.sort(f);
            Arrays.sort(b);
            System.out.printf(Locale.ROOT, "| %s (%s) | %.1f | %.1f |%n", "layer" + i,
                    tiny.getConf(i).getLayer().getClass().getSimpleName(), f[f.length / 2], b[b.length / 2]);
            if (labels == null) {
                calls.add(f[f.length / 2]);
            }
            calls.add(b[b.length / 2]);
            if (next != null) {
                x = next;
            }
        }
        System.out.printf(Locale.ROOT, "median call: %.1f us (the output layer's forward only keeps its input and is "
                + "left out; its work is in its backward)%n", median(calls));
    }

    /**
     * Part 4 ({@code --gemm-split}): the three GEMMs of each dense layer timed apart, per step of B rows cut into
     * M micro-batches: forward Z = X·W and input gradient dX = dZ·Wᵀ (M products of B/M rows against one of B
     * rows), and the weight gradient dW = Xᵀ·dZ two ways: per micro-batch as the runtime does it today (M products
     * with K = B/M, each into a fresh gradient that is then added to the step's sum) against deferred (copy each
     * X_m and dZ_m into B-row buffers, then one product with K = B at the step's last backward). The difference of
     * the last two is what deferring the weight gradient can save per step.
     */
    private static void gemmSplit(MultiLayerConfiguration conf) {
        int layers = conf.getConfs().size();
        System.out.println("\npart 4: the three GEMMs per dense layer apart, ms per step of " + BATCH + " rows (median of 7)");
        System.out.println("| M | layer | nIn x nOut | fwd M x | fwd once | dX M x | dX once | dW per micro-batch + sum | dW deferred (copies + one K=B) | saved |");
        System.out.println("|---|-------|------------|---------|----------|--------|---------|--------------------------|--------------------------------|-------|");
        for (int m : new int[] {4, 8, 16}) {
            double[] tot = new double[7];
            for (int i = 0; i < layers; i++) {
                FeedForwardLayer l = (FeedForwardLayer) conf.getConf(i).getLayer();
                int nIn = (int) l.getNIn();
                int nOut = (int) l.getNOut();
                int rows = BATCH / m;
                INDArray w = Nd4j.rand(DataType.FLOAT, nIn, nOut);
                INDArray[] x = new INDArray[m];
                INDArray[] d = new INDArray[m];
                for (int k = 0; k < m; k++) {
                    x[k] = Nd4j.rand(DataType.FLOAT, rows, nIn);
                    d[k] = Nd4j.rand(DataType.FLOAT, rows, nOut);
                }
                INDArray xAll = Nd4j.rand(DataType.FLOAT, BATCH, nIn);
                INDArray dAll = Nd4j.rand(DataType.FLOAT, BATCH, nOut);
                INDArray z = Nd4j.create(DataType.FLOAT, rows, nOut);
                INDArray zAll = Nd4j.create(DataType.FLOAT, BATCH, nOut);
                INDArray e = Nd4j.create(DataType.FLOAT, rows, nIn);
                INDArray eAll = Nd4j.create(DataType.FLOAT, BATCH, nIn);
                INDArray dw = Nd4j.create(DataType.FLOAT, new long[] {nIn, nOut}, 'f');
                INDArray dwSum = Nd4j.create(DataType.FLOAT, new long[] {nIn, nOut}, 'f');
                INDArray xBuf = Nd4j.create(DataType.FLOAT, BATCH, nIn);
                INDArray dBuf = Nd4j.create(DataType.FLOAT, BATCH, nOut);
                double fM = timed(() -> {
                    for (int k = 0; k < m; k++) {
                        x[k].mmuli(w, z);
                    }
                });
                double f1 = timed(() -> xAll.mmuli(w, zAll));
                double bM = timed(() -> {
                    for (int k = 0; k < m; k++) {
                        d[k].mmuli(w.transpose(), e);
                    }
                });
                double b1 = timed(() -> dAll.mmuli(w.transpose(), eAll));
                double wM = timed(() -> {
                    for (int k = 0; k < m; k++) {
                        Nd4j.gemm(x[k], d[k], dw, true, false, 1.0, 0.0);
                        if (k == 0) {
                            dwSum.assign(dw);
                        } else {
                            dwSum.addi(dw);
                        }
                    }
                });
                double w1 = timed(() -> {
                    for (int k = 0; k < m; k++) {
                        xBuf.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(k * rows, (k + 1) * rows),
                                org.nd4j.linalg.indexing.NDArrayIndex.all()).assign(x[k]);
                        dBuf.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(k * rows, (k + 1) * rows),
                                org.nd4j.linalg.indexing.NDArrayIndex.all()).assign(d[k]);
                    }
                    Nd4j.gemm(xBuf, dBuf, dwSum, true, false, 1.0, 0.0);
                });
                double[] row = {fM, f1, bM, b1, wM, w1, wM - w1};
                for (int c = 0; c < row.length; c++) {
                    tot[c] += row[c];
                }
                System.out.printf(Locale.ROOT, "| %d | %d | %dx%d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |%n", m, i,
                        nIn, nOut, fM, f1, bM, b1, wM, w1, wM - w1);
            }
            System.out.printf(Locale.ROOT, "| %d | all | | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | **%.1f** |%n", m, tot[0],
                    tot[1], tot[2], tot[3], tot[4], tot[5], tot[6]);
        }
    }

    /**
     * Part 5 ({@code --pipeline}): P = 2 stages on two threads in one JVM ({@link InProcessPipeline}, 1F1B, stash,
     * {@link ThroughputBenchmark}'s even split), weight gradients deferred or per micro-batch, alternating runs.
     */
    private static void pipelineRows(MultiLayerConfiguration conf, int layers, List<DataSet> data) {
        int[] split = ThroughputBenchmark.evenSplit(conf);
        System.out.println("\npart 5: P=2 in one JVM (InProcessPipeline, 1F1B, stash, split " + Arrays.toString(split)
                + "), median over " + REPEATS + " alternating runs of each run's median step; cpu: process CPU per step");
        System.out.println("| M | dW | step ms | samples/s | cpu ms/step |");
        System.out.println("|---|----|---------|-----------|-------------|");
        for (int m : new int[] {4, 8}) {
            double[][][] runs = new double[2][2][REPEATS];
            for (int rep = 0; rep < REPEATS; rep++) {
                for (int v = 0; v < 2; v++) {
                    double[] one = run(conf, split, m, v == 1, data);
                    runs[v][0][rep] = one[0];
                    runs[v][1][rep] = one[1];
                }
            }
            for (int v = 0; v < 2; v++) {
                double st = medianOf(runs[v][0]);
                System.out.printf(Locale.ROOT, "| %d | %s | %.1f | %.0f | %.1f |%n", m, v == 1 ? "deferred" : "per micro-batch",
                        st, BATCH / (st / 1e3), medianOf(runs[v][1]));
            }
        }
    }

    private static double[] partOneRun(MultiLayerConfiguration conf, int layers, int m, boolean defer, List<DataSet> data) {
        return run(conf, new int[] {0, layers}, m, defer, data);
    }

    /** One part-1 run: median step ms, process CPU ms per step, median compute ms, median optimizer ms. */
    private static double[] run(MultiLayerConfiguration conf, int[] boundaries, int m, boolean defer, List<DataSet> data) {
        int p = boundaries.length - 1;
        PipelineSpec spec = new PipelineSpec(conf.toJson(), boundaries, ScheduleKind.ONE_F_ONE_B, p, 1, m,
                BATCH, 7, new boolean[p]).withDeferredWeightGradients(defer);
        com.sun.management.OperatingSystemMXBean os = (com.sun.management.OperatingSystemMXBean)
                java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        long cpu0 = os.getProcessCpuTime();
        InProcessPipeline.Result r = new InProcessPipeline(spec, null, Duration.ofSeconds(120)).fit(data, 1);
        double cpu = (os.getProcessCpuTime() - cpu0) / 1e6 / data.size();
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
        return new double[] {median(step), cpu, median(compute), median(update)};
    }

    private static double medianOf(double[] v) {
        double[] a = v.clone();
        Arrays.sort(a);
        return a[a.length / 2];
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
