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
import org.deeplearning4j.spark.api.RDDTrainingApproach;
import org.deeplearning4j.spark.impl.multilayer.SparkDl4jMultiLayer;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.nd4j.linalg.dataset.DataSet;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

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
     * DL4J Spark, {@code SparkDl4jMultiLayer} with {@code ParameterAveragingTrainingMaster} on all executors:
     * {@code batch} examples per worker per step (as {@code fit}), averaging every {@code averaging} steps, the
     * {@code Direct} training approach (DL4J's default, exporting the RDD to files, refuses a local default file
     * system on a non-local master). DL4J Spark runs no step the caller can time, so the throughput is examples
     * per epoch / wall time of one {@code fit(rdd)} call (one epoch), median over the timed epochs after one
     * warm-up epoch; the loss is taken after that first epoch (the same samples as the others).
     */
    static ThroughputRow dl4jSpark(JavaSparkContext jsc, MultiLayerNetwork initial, JavaRDD<DataSet> data, DataSet eval,
                                   ThroughputOptions o, boolean saveUpdater) {
        String name = "dl4j-spark paramavg saveUpdater=" + saveUpdater;
        try {
            ParameterAveragingTrainingMaster tm = new ParameterAveragingTrainingMaster.Builder(o.batch())
                    .batchSizePerWorker(o.batch()).averagingFrequency(o.averaging()).saveUpdater(saveUpdater)
                    .rddTrainingApproach(RDDTrainingApproach.Direct).rngSeed(o.seed()).build();
            SparkDl4jMultiLayer net = new SparkDl4jMultiLayer(jsc, initial.clone(), tm);
            long examples = (long) o.steps() * o.batch();
            double loss = Double.NaN;
            double[] rates = new double[o.dl4jEpochs()];
            double[] epochSeconds = new double[o.dl4jEpochs()];
            for (int e = 0; e <= o.dl4jEpochs(); e++) {
                long t0 = System.nanoTime();
                net.fit(data);
                double s = (System.nanoTime() - t0) / 1e9;
                if (e == 0) {
                    loss = net.getNetwork().score(eval);
                    System.out.printf(Locale.ROOT, "  %s: warm-up epoch %.1f s (not counted)%n", name, s);
                } else {
                    rates[e - 1] = examples / s;
                    epochSeconds[e - 1] = s;
                    System.out.printf(Locale.ROOT, "  %s: epoch %d %.1f s, %.1f samples/s%n", name, e, s, examples / s);
                }
            }
            int workers = jsc.sc().defaultParallelism();
            return new ThroughputRow(name, false, median(rates), median(epochSeconds) * workers / o.steps(),
                    Double.NaN, Double.NaN, null, loss, "examples / fit(rdd) wall time per epoch, median of "
                    + o.dl4jEpochs() + " after 1 warm-up epoch; step ms = epoch / (steps / " + workers + " workers)",
                    null);
        } catch (RuntimeException e) {
            return ThroughputRow.failed(name, false, e);
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
            TrainingResult r = b.build().fit(data);
            List<StepReport> steps = r.metrics();
            if (steps.size() <= o.warmup()) {
                throw new IllegalStateException("only " + steps.size() + " steps reported, warm-up is " + o.warmup());
            }
            List<StepReport> timed = steps.subList(o.warmup(), steps.size());
            double rate = median(timed.stream().mapToDouble(StepReport::samplesPerSecond).toArray());
            double step = median(timed.stream().mapToDouble(StepReport::stepSeconds).toArray());
            double bubble = median(timed.stream().mapToDouble(StepReport::bubbleFraction).toArray());
            double loss = r.network().score(eval);
            return new ThroughputRow(name, true, rate, step, (double) replicas * p * m / (m + p - 1), bubble,
                    r.planAccuracy(), loss, "median of per-step samples/s (engine step records)", null);
        } catch (RuntimeException e) {
            return ThroughputRow.failed(name, true, e);
        }
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
