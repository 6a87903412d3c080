package io.sparkmp.bench;

import io.sparkmp.plan.RecomputeMode;
import io.sparkmp.runtime.InProcessPipeline;
import io.sparkmp.runtime.PipelineSpec;
import io.sparkmp.runtime.StepMetrics;
import io.sparkmp.schedule.ScheduleKind;
import io.sparkmp.spark.PipelineTrainer;
import io.sparkmp.spark.StepReport;
import io.sparkmp.spark.TrainingResult;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.dataset.DataSet;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * The contenders of {@link ThroughputBenchmark}, each trained for one epoch over the same mini-batches from the
 * same initial parameters, its loss then taken on the same held-out set.
 */
final class ThroughputRuns {
    /** Held-out examples the loss is measured on. */
    static final int EVAL_EXAMPLES = 1024;

    private ThroughputRuns() {
    }

    /**
     * DL4J's own {@code fit}, one call per mini-batch, in ONE executor JVM of the cluster (a one-task job): the
     * same heap, JVM flags and single ND4J thread as the pipeline's stages, with the other executor idle. The
     * task makes the same mini-batches from the seed ({@link TeacherData} is bit-identical across JVMs) and builds
     * the network from the configuration (DL4J's seeded initialisation: the driver's initial parameters).
     */
    static ThroughputRow fit(JavaSparkContext jsc, MultiLayerConfiguration conf, ThroughputOptions o) {
        String json = conf.toJson();
        long seed = o.seed();
        int steps = o.steps();
        int batch = o.batch();
        double[] r = jsc.parallelize(List.of(0), 1).map(x -> fitSteps(json, seed, steps, batch)).collect().get(0);
        double[] perStep = Arrays.copyOfRange(r, o.warmup(), steps);
        double step = median(perStep);
        return new ThroughputRow("fit (one executor JVM)", false, batch / step, step, Double.NaN, Double.NaN, null,
                r[steps], "batch / median time of one fit(DataSet) call", null);
    }

    /** Runs in the executor: step seconds of each fit call, then the held-out loss. */
    private static double[] fitSteps(String json, long seed, int steps, int batch) {
        MultiLayerNetwork net = new MultiLayerNetwork(MultiLayerConfiguration.fromJson(json));
        net.init();
        TeacherData data = new TeacherData(seed);
        List<DataSet> batches = data.batches(steps, batch);
        double[] out = new double[steps + 1];
        for (int s = 0; s < steps; s++) {
            long t0 = System.nanoTime();
            net.fit(batches.get(s));
            out[s] = (System.nanoTime() - t0) / 1e9;
        }
        out[steps] = net.score(data.evaluation(EVAL_EXAMPLES));
        return out;
    }

    /**
     * DL4J Spark's parameter averaging ({@code Dl4jSparkPeer}, looked up by name: dl4j-spark is published for
     * Scala 2.12 only, so a Spark 4 build leaves that class out and this row says so).
     */
    static ThroughputRow dl4jSpark(JavaSparkContext jsc, MultiLayerNetwork initial, JavaRDD<DataSet> data, DataSet eval,
                                   ThroughputOptions o, boolean saveUpdater) {
        String name = "dl4j-spark paramavg saveUpdater=" + saveUpdater;
        try {
            Class<?> peer = Class.forName("io.sparkmp.bench.Dl4jSparkPeer");
            return (ThroughputRow) peer.getDeclaredMethod("run", JavaSparkContext.class, MultiLayerNetwork.class,
                    JavaRDD.class, DataSet.class, ThroughputOptions.class, boolean.class)
                    .invoke(null, jsc, initial, data, eval, o, saveUpdater);
        } catch (ClassNotFoundException e) {
            return ThroughputRow.failed(name, false, new UnsupportedOperationException(
                    "not in this build: dl4j-spark is published for Scala 2.12 only (the spark4 build leaves it out)"));
        } catch (ReflectiveOperationException e) {
            Throwable cause = e.getCause() instanceof RuntimeException r ? r : e;
            return ThroughputRow.failed(name, false, new IllegalStateException(cause.getMessage(), cause));
        }
    }

    /**
     * spark-mp, P stages at the given manual split, from the same initial parameters; the per-step figures come
     * from the engine's step records (the slowest rank's wall time per step), medians after warm-up.
     */
    static ThroughputRow sparkMp(MultiLayerConfiguration conf, MultiLayerNetwork initial, JavaRDD<DataSet> data,
                                 DataSet eval, ThroughputOptions o, int[] boundaries, ScheduleKind schedule, int m,
                                 RecomputeMode recompute) {
        return sparkMp(conf, initial, data, eval, o, boundaries, 1, schedule, m, recompute);
    }

    /**
     * As {@link #sparkMp(MultiLayerConfiguration, MultiLayerNetwork, JavaRDD, DataSet, ThroughputOptions, int[],
     * ScheduleKind, int, RecomputeMode)} with R data-parallel replicas of the pipeline (P x R executors); its ideal
     * is R times the pipeline's.
     */
    static ThroughputRow sparkMp(MultiLayerConfiguration conf, MultiLayerNetwork initial, JavaRDD<DataSet> data,
                                 DataSet eval, ThroughputOptions o, int[] boundaries, int replicas, ScheduleKind schedule,
                                 int m, RecomputeMode recompute) {
        int p = boundaries.length - 1;
        String name = "spark-mp P=" + p + (replicas == 1 ? "" : " R=" + replicas) + " " + schedule.label() + " M=" + m
                + " recompute=" + recompute.label();
        try {
            PipelineTrainer.Builder b = PipelineTrainer.builder(conf).stages(p).replicas(replicas).microBatches(m)
                    .schedule(schedule)
                    .recompute(recompute).batchSize(o.batch()).epochs(1).shuffle(false).logEvery(0)
                    .boundaries(boundaries).initialParameters(initial).seed(o.seed());
            if (o.timeline() != null) {
                b.timeline(Path.of(o.timeline(), name.replaceAll("[^A-Za-z0-9=]+", "-") + ".html").toString());
            }
            return row(name, b.build().fit(data), eval, o);
        } catch (RuntimeException e) {
            return ThroughputRow.failed(name, true, e);
        }
    }

    /**
     * Trains spark-mp P = 2, 1F1B, M = 4 for {@code o.warmExecutors()} steps (whole epochs over the data, at least
     * one) and throws the result away: every measured row then runs on executors past their first fit. Returns
     * the median step time of every ten steps in ms, to show how the first fit settles.
     */
    static List<Double> warmExecutors(MultiLayerConfiguration conf, MultiLayerNetwork initial, JavaRDD<DataSet> data,
                                      ThroughputOptions o) {
        int epochs = Math.max(1, (o.warmExecutors() + o.steps() - 1) / o.steps());
        TrainingResult r = PipelineTrainer.builder(conf).stages(2).replicas(1).microBatches(4)
                .schedule(ScheduleKind.ONE_F_ONE_B).recompute(RecomputeMode.NEVER).batchSize(o.batch()).epochs(epochs)
                .shuffle(false).logEvery(0).boundaries(ThroughputBenchmark.evenSplit(conf)).initialParameters(initial)
                .seed(o.seed()).build().fit(data);
        return tens(r.metrics());
    }

    /** The median step time in ms of every ten steps. */
    static List<Double> tens(List<StepReport> steps) {
        List<Double> out = new java.util.ArrayList<>();
        for (int i = 0; i < steps.size(); i += 10) {
            double[] t = steps.subList(i, Math.min(steps.size(), i + 10)).stream().mapToDouble(StepReport::stepSeconds)
                    .toArray();
            out.add(Math.round(1e4 * median(t)) / 10.0);
        }
        return out;
    }

    /**
     * spark-mp with every choice left to the planner (stages, split, micro-batches, schedule, recompute) on the
     * measured profile, from the same initial parameters: what a user who sets only the batch size gets. The
     * plan it chose is in the row's name.
     */
    static ThroughputRow sparkMpPlanned(MultiLayerConfiguration conf, MultiLayerNetwork initial, JavaRDD<DataSet> data,
                                        DataSet eval, ThroughputOptions o) {
        String name = "spark-mp planner's choice";
        try {
            TrainingResult r = PipelineTrainer.builder(conf).batchSize(o.batch()).epochs(1).shuffle(false).logEvery(0)
                    .initialParameters(initial).seed(o.seed()).build().fit(data);
            io.sparkmp.plan.PipelinePlan plan = r.plan();
            name = "spark-mp planned P=" + plan.devices() + (plan.replicas() > 1 ? " R=" + plan.replicas() : "") + " "
                    + plan.schedule().label() + " M=" + plan.microBatches() + " " + Arrays.toString(plan.boundaries());
            return row(name, r, eval, o);
        } catch (RuntimeException e) {
            return ThroughputRow.failed(name, true, e);
        }
    }

    /**
     * A spark-mp row from a finished run: medians of the engine's step records after warm-up, the ideal of its plan
     * (R x P·M/(M+P−1)), the plan's accuracy and the held-out loss.
     */
    private static ThroughputRow row(String name, TrainingResult r, DataSet eval, ThroughputOptions o) {
        List<StepReport> steps = r.metrics();
        if (steps.size() <= o.warmup()) {
            throw new IllegalStateException("only " + steps.size() + " steps reported, warm-up is " + o.warmup());
        }
        List<StepReport> timed = steps.subList(o.warmup(), steps.size());
        System.out.println("  " + name + ": median step ms per ten steps " + tens(steps));
        double rate = median(timed.stream().mapToDouble(StepReport::samplesPerSecond).toArray());
        double step = median(timed.stream().mapToDouble(StepReport::stepSeconds).toArray());
        double bubble = median(timed.stream().mapToDouble(StepReport::bubbleFraction).toArray());
        io.sparkmp.plan.PipelinePlan plan = r.plan();
        int p = plan.devices();
        int m = plan.microBatches();
        return new ThroughputRow(name, true, rate, step, (double) plan.replicas() * p * m / (m + p - 1), bubble,
                r.planAccuracy(), r.network().score(eval), "median of per-step samples/s (engine step records)", null);
    }

    /**
     * The pipeline without Spark or sockets: {@link InProcessPipeline} (one thread per stage, the same stage code)
     * in ONE executor JVM, as {@link #fit} runs, on the same mini-batches: separates what micro-batching, the
     * stage code and two threads cost from what executors, sockets and the driver add. The throughput is batch /
     * median step (the slowest rank's wall time of the step) after warm-up. Initial parameters come from the
     * spec's deterministic per-layer initialisation (the loss column is comparable in kind, not bit for bit).
     */
    static ThroughputRow inProcess(JavaSparkContext jsc, MultiLayerConfiguration conf, ThroughputOptions o,
                                   int[] boundaries, int m) {
        int p = boundaries.length - 1;
        String name = "in-process P=" + p + " 1f1b M=" + m + " recompute=never";
        try {
            String json = conf.toJson();
            long seed = o.seed();
            int steps = o.steps();
            int batch = o.batch();
            double[] r = jsc.parallelize(List.of(0), 1)
                    .map(x -> inProcessSteps(json, boundaries, m, seed, steps, batch)).collect().get(0);
            double step = median(Arrays.copyOfRange(r, o.warmup(), steps));
            double bubble = r[steps + 1];
            return new ThroughputRow(name, true, batch / step, step, (double) p * m / (m + p - 1), bubble, null,
                    r[steps], "batch / median step of InProcessPipeline in one executor JVM (no Spark, no sockets)",
                    null);
        } catch (RuntimeException e) {
            return ThroughputRow.failed(name, true, e);
        }
    }

    /** Runs in the executor: each step's seconds (slowest rank), the held-out loss, the median bubble. */
    private static double[] inProcessSteps(String json, int[] boundaries, int m, long seed, int steps, int batch) {
        int p = boundaries.length - 1;
        boolean[] stash = new boolean[p]; // all false: every stage keeps its activations
        PipelineSpec spec = new PipelineSpec(json, boundaries, ScheduleKind.ONE_F_ONE_B, p, 1, m, batch, seed, stash);
        TeacherData data = new TeacherData(seed);
        InProcessPipeline.Result res = new InProcessPipeline(spec, null, java.time.Duration.ofSeconds(120))
                .fit(data.batches(steps, batch), 1);
        double[] wall = new double[steps];
        double[] busy = new double[steps];
        for (StepMetrics sm : res.metrics()) {
            int i = (int) sm.step();
            wall[i] = Math.max(wall[i], sm.wallNanos() / 1e9);
            busy[i] += (sm.wallNanos() - sm.waitNanos()) / 1e9;
        }
        double[] out = new double[steps + 2];
        double[] bubbles = new double[steps];
        for (int i = 0; i < steps; i++) {
            out[i] = wall[i];
            bubbles[i] = 1 - busy[i] / (p * wall[i]);
        }
        out[steps] = res.toNetwork().score(data.evaluation(EVAL_EXAMPLES));
        out[steps + 1] = median(bubbles);
        return out;
    }

    /** Median of the finite values; NaN when there are none. */
    static double median(double[] v) {
        double[] s = Arrays.stream(v).filter(Double::isFinite).sorted().toArray();
        if (s.length == 0) {
            return Double.NaN;
        }
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
