package io.sparkmp.bench;

import io.sparkmp.plan.RecomputeMode;
import io.sparkmp.schedule.ScheduleKind;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Throughput of spark-mp's pipeline against DL4J's own {@code fit} and against DL4J Spark's data-parallel
 * parameter averaging, in ONE run on the same executors ({@code local-cluster[2,1,2048]}: two executor JVMs,
 * one core and one ND4J thread each), the same synthetic data ({@link TeacherData}) and the same initial
 * parameters. Model: MLP 784-1024x4-10, ReLU, softmax/MCXENT, Adam, FLOAT. Contenders:
 * <ul>
 *   <li>{@code fit}: DL4J {@code fit} in one executor JVM (see {@link ThroughputRuns#fit});</li>
 *   <li>{@code dl4j-spark}: {@code SparkDl4jMultiLayer} + {@code ParameterAveragingTrainingMaster}, with
 *       {@code saveUpdater} false (DL4J's default: Adam state reset every averaging) and true;</li>
 *   <li>{@code spark-mp}: {@code PipelineTrainer}, P = 2 at the split that balances parameters (an even split
 *       of the work: [0, 2, 5]), for every schedule x micro-batch count M x recomputation mode asked;</li>
 *   <li>{@code planner}: {@code PipelineTrainer} with only the batch size set: stages, split, M, schedule and
 *       recomputation are the planner's choice on the measured profile (what a user gets by default);</li>
 *   <li>{@code in-process}: the pipeline in one executor JVM without Spark or sockets (see the breakdown).</li>
 *   <li>{@code hybrid}: the same two executors as data-parallel replicas, P = 1 x R = 2 (M = 1, each replica a
 *       half of every mini-batch, gradients summed by the ring all-reduce), beside P = 2 x R = 1 (1F1B, M = 8):
 *       identical training to fit, unlike parameter averaging.</li>
 * </ul>
 * Prints one table: samples/s (medians after the warm-up steps; how each is measured is printed), the ratio to
 * {@code fit}, spark-mp's ideal speed-up over one device P·M/(M+P−1) (2M/(M+1) at P = 2) and the share of it
 * reached, the measured bubble, the plan's predicted vs measured step time, and the loss on a held-out set
 * after one epoch (the same samples for everyone); then the targets for P = 2, 1F1B, batch 256, M = 8,
 * and the machine's load averages at start and end. Timings are printed, never asserted; on a machine busy with
 * other work the numbers say little (a warning is printed when the 1-minute load average exceeds 2.5).
 *
 * <p>Run: {@code OMP_NUM_THREADS=1 mvn -B -q -pl spark-mp-examples -am -DskipTests -Pthroughput-bench package
 * -Dbench.args="--quick"}; options: {@value ThroughputOptions#USAGE}.
 */
public final class ThroughputBenchmark {
    static final int HIDDEN = 1024;
    static final int HIDDEN_LAYERS = 4;
    static final int STAGES = 2;
    static final double TARGET_VS_FIT = 1.6;
    static final double TARGET_VS_DL4J_SPARK = 2.2;
    static final double QUIET_LOAD = 2.5;

    private ThroughputBenchmark() {
    }

    /** MLP 784-1024x4-10, ReLU, softmax/MCXENT, Adam 1e-3, FLOAT. */
    static MultiLayerConfiguration model(long seed) {
        NeuralNetConfiguration.ListBuilder b = new NeuralNetConfiguration.Builder().seed(seed).updater(new Adam(1e-3))
                .dataType(DataType.FLOAT).list();
        for (int i = 0; i < HIDDEN_LAYERS; i++) {
            b.layer(new DenseLayer.Builder().nIn(i == 0 ? TeacherData.FEATURES : HIDDEN).nOut(HIDDEN)
                    .activation(Activation.RELU).build());
        }
        return b.layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(HIDDEN)
                .nOut(TeacherData.CLASSES).activation(Activation.SOFTMAX).build()).build();
    }

    public static void main(String[] args) {
        ThroughputOptions o;
        try {
            o = ThroughputOptions.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println(e.getMessage());
            System.err.println("usage: " + ThroughputOptions.USAGE);
            System.exit(2);
            return;
        }
        double[] loadStart = loadAverages();
        System.out.printf(Locale.ROOT, "ThroughputBenchmark %s, %s%nload average at start: %s (%d cores)%n",
                Instant.now(), o, format(loadStart), Runtime.getRuntime().availableProcessors());
        if (loadStart[0] > QUIET_LOAD) {
            System.out.printf(Locale.ROOT, "WARNING: 1-minute load average %.2f > %.1f: other work shares the cores, "
                    + "the figures below are not representative%n", loadStart[0], QUIET_LOAD);
        }
        SparkConf sc = new SparkConf().setMaster(o.master()).setAppName("ThroughputBenchmark")
                .set("spark.ui.enabled", "false").set("spark.ui.showConsoleProgress", "false")
                .set("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
                // spark-mp's registrator, then ND4J's (applied last: DL4J Spark's arrays use its own serializer;
                // absent from a Spark 4 build, which leaves the DL4J Spark peer out)
                .set("spark.kryo.registrator", "io.sparkmp.spark.SparkMpKryoRegistrator"
                        + (onClasspath("org.nd4j.kryo.Nd4jRegistrator") ? ",org.nd4j.kryo.Nd4jRegistrator" : ""));
        if (o.timeline() != null) {
            // the report's consecutive steps right after the warm-up ones (the default starts at step 1)
            sc.set("spark.mp.timeline.firstStep", String.valueOf(o.warmup()));
        }
        sc.set("spark.mp.plan.hostSlowdown", o.hostSlowdown());
        if (LocalCluster.isLocalCluster(o.master())) {
            LocalCluster.configure(sc);
            sc.set("spark.executor.memory", LocalCluster.workerMegabytes(o.master()) + "m");
            if (!o.executorOptions().isBlank()) {
                sc.set("spark.executor.extraJavaOptions", sc.get("spark.executor.extraJavaOptions") + " "
                        + o.executorOptions().trim());
                System.out.println("executor JVM options added: " + o.executorOptions().trim());
            }
        }
        int code = 0;
        JavaSparkContext jsc = null;
        try {
            jsc = new JavaSparkContext(sc);
            if (LocalCluster.isLocalCluster(o.master())) {
                LocalCluster.awaitExecutors(jsc.sc(), o.master());
            }
            List<ThroughputRow> rows = run(jsc, o);
            print(rows, o, loadStart);
        } catch (RuntimeException e) {
            e.printStackTrace();
            code = 1;
        } finally {
            if (jsc != null) {
                jsc.stop();
            }
        }
        System.exit(code); // a barrier task timer thread may otherwise keep the JVM alive
    }

    private static List<ThroughputRow> run(JavaSparkContext jsc, ThroughputOptions o) {
        MultiLayerConfiguration conf = model(o.seed());
        MultiLayerNetwork initial = new MultiLayerNetwork(conf.clone());
        initial.init();
        TeacherData teacher = new TeacherData(o.seed());
        DataSet eval = teacher.evaluation(ThroughputRuns.EVAL_EXAMPLES);
        JavaRDD<DataSet> data = jsc.parallelize(teacher.batches(o.steps(), o.batch()),
                Math.max(1, jsc.sc().defaultParallelism()));
        System.out.printf(Locale.ROOT, "initial held-out loss %.4f; %d steps of %d examples, first %d not counted%n",
                initial.score(eval), o.steps(), o.batch(), o.warmup());
        List<ThroughputRow> rows = new ArrayList<>();
        if (o.warmExecutors() > 0 && (o.runs("spark-mp") || o.runs("planner") || o.runs("hybrid"))) {
            long t0 = System.nanoTime();
            List<Double> tens = ThroughputRuns.warmExecutors(conf, initial, data, o);
            System.out.printf(Locale.ROOT, "  warmed the executors: %d steps of spark-mp P=2 1F1B M=4 in %.0f s, not "
                    + "counted; median step ms per ten steps %s%n", o.warmExecutors(), (System.nanoTime() - t0) / 1e9,
                    tens);
        }
        if (o.runs("fit")) {
            long t0 = System.nanoTime();
            try {
                rows.add(report(ThroughputRuns.fit(jsc, conf, o), t0));
            } catch (RuntimeException e) {
                rows.add(report(ThroughputRow.failed("fit (one executor JVM)", false, e), t0));
            }
        }
        if (o.runs("dl4j-spark")) {
            for (boolean su : o.saveUpdater()) {
                long t0 = System.nanoTime();
                rows.add(report(ThroughputRuns.dl4jSpark(jsc, initial, data, eval, o, su), t0));
            }
        }
        if (o.runs("spark-mp")) {
            int[] split = evenSplit(conf);
            System.out.println("  spark-mp split (layer boundaries): " + Arrays.toString(split));
            for (ScheduleKind k : o.schedules()) {
                for (int m : o.micro()) {
                    for (RecomputeMode rc : o.recompute()) {
                        long t0 = System.nanoTime();
                        rows.add(report(ThroughputRuns.sparkMp(conf, initial, data, eval, o, split, k, m, rc), t0));
                    }
                }
            }
        }
        if (o.runs("planner")) {
            long t0 = System.nanoTime();
            rows.add(report(ThroughputRuns.sparkMpPlanned(conf, initial, data, eval, o), t0));
        }
        if (o.runs("hybrid")) {
            int layers = conf.getConfs().size();
            long t0 = System.nanoTime();
            rows.add(report(ThroughputRuns.sparkMp(conf, initial, data, eval, o, new int[] {0, layers}, 2,
                    ScheduleKind.GPIPE, 1, RecomputeMode.AUTO), t0));
            t0 = System.nanoTime();
            rows.add(report(ThroughputRuns.sparkMp(conf, initial, data, eval, o, evenSplit(conf), 1,
                    ScheduleKind.ONE_F_ONE_B, 8, RecomputeMode.AUTO), t0));
        }
        if (o.runs("in-process")) {
            int[] split = evenSplit(conf);
            int layers = conf.getConfs().size();
            long t0 = System.nanoTime();
            rows.add(report(ThroughputRuns.inProcess(jsc, conf, o, new int[] {0, layers}, 1), t0));
            for (int m : o.micro()) {
                t0 = System.nanoTime();
                rows.add(report(ThroughputRuns.inProcess(jsc, conf, o, new int[] {0, layers}, m), t0));
                t0 = System.nanoTime();
                rows.add(report(ThroughputRuns.inProcess(jsc, conf, o, split, m), t0));
            }
        }
        if (o.runs("fit") && rows.size() > 1) {
            // fit once more at the end: on a shared machine the speed drifts over a run (fit measured 1214 to 1554
            // samples/s in runs minutes apart), and every ratio is taken against the mean of the two.
            long t0 = System.nanoTime();
            try {
                ThroughputRow r = ThroughputRuns.fit(jsc, conf, o);
                rows.add(report(new ThroughputRow(FIT_AGAIN, r.pipeline(), r.samplesPerSecond(), r.stepSeconds(),
                        r.ideal(), r.bubble(), r.plan(), r.loss(), r.how(), r.failure()), t0));
            } catch (RuntimeException e) {
                rows.add(report(ThroughputRow.failed(FIT_AGAIN, false, e), t0));
            }
        }
        return rows;
    }

    static final String FIT_AGAIN = "fit again, at the end of the run";

    /** The reference for every ratio: the mean of {@code fit}'s samples/s at the start and at the end of the run. */
    static double fitReference(List<ThroughputRow> rows) {
        double[] fits = rows.stream().filter(r -> r.contender().startsWith("fit") && r.failure() == null)
                .mapToDouble(ThroughputRow::samplesPerSecond).toArray();
        return fits.length == 0 ? Double.NaN : java.util.Arrays.stream(fits).average().orElse(Double.NaN);
    }

    /**
     * Where the distance from {@code fit} to the ideal goes, from the rows of this run, per M: the stage code
     * (in-process P=1 M=1 vs fit), cutting the batch into M micro-batches (P=1 M vs P=1 M=1), two stage threads
     * (in-process P=2 vs P=1 at the same M, against the ideal 2M/(M+1)), and executors, sockets and the driver
     * (spark-mp P=2 1F1B stash vs in-process P=2).
     */
    private static void printBreakdown(List<ThroughputRow> rows, ThroughputOptions o, double fit) {
        ThroughputRow one = find(rows, "in-process P=1 1f1b M=1 ");
        if (one == null) {
            return;
        }
        System.out.printf(Locale.ROOT, "%nwhere the time goes (ratios of samples/s in this run):%n");
        System.out.printf(Locale.ROOT, "  stage code: in-process P=1 M=1 / fit = %s%n", f2(one.samplesPerSecond() / fit));
        for (int m : o.micro()) {
            ThroughputRow p1 = find(rows, "in-process P=1 1f1b M=" + m + " ");
            ThroughputRow p2 = find(rows, "in-process P=" + STAGES + " 1f1b M=" + m + " ");
            ThroughputRow spark = find(rows, "spark-mp P=" + STAGES + " 1f1b M=" + m + " recompute=never");
            if (p1 == null || p2 == null) {
                continue;
            }
            double ideal = 2.0 * m / (m + 1);
            System.out.printf(Locale.ROOT, "  M=%d: micro-batching P=1 M=%d / P=1 M=1 = %s; two stage threads P=2 / P=1 "
                            + "= %s (ideal %s, %s of it); executors+sockets+driver spark-mp / in-process P=2 = %s; "
                            + "spark-mp / fit = %s%n", m, m, f2(p1.samplesPerSecond() / one.samplesPerSecond()),
                    f2(p2.samplesPerSecond() / p1.samplesPerSecond()), f2(ideal),
                    f2(p2.samplesPerSecond() / p1.samplesPerSecond() / ideal),
                    spark == null ? "-" : f2(spark.samplesPerSecond() / p2.samplesPerSecond()),
                    spark == null ? "-" : f2(spark.samplesPerSecond() / fit));
        }
    }

    private static ThroughputRow find(List<ThroughputRow> rows, String prefix) {
        return rows.stream().filter(r -> r.failure() == null && r.contender().startsWith(prefix)).findFirst()
                .orElse(null);
    }

    /** The split into {@link #STAGES} stages that balances parameters (work, for dense layers). */
    static int[] evenSplit(MultiLayerConfiguration conf) {
        long[] params = new long[conf.getConfs().size()];
        for (int i = 0; i < params.length; i++) {
            params[i] = conf.getConf(i).getLayer().initializer().numParams(conf.getConf(i));
        }
        return PlannerSplitBenchmark.byParameters(params, STAGES);
    }

    /** Prints one contender's outcome as it finishes, with its wall time (set-up and warm-up included). */
    private static ThroughputRow report(ThroughputRow r, long startNanos) {
        System.out.printf(Locale.ROOT, "  done %s in %.0f s: %s (load average %s)%n", r.contender(),
                (System.nanoTime() - startNanos) / 1e9, r.failure() != null ? "FAILED " + r.failure()
                        : String.format(Locale.ROOT, "%.1f samples/s", r.samplesPerSecond()), format(loadAverages()));
        return r;
    }

    private static void print(List<ThroughputRow> rows, ThroughputOptions o, double[] loadStart) {
        double fit = fitReference(rows);
        System.out.printf(Locale.ROOT, "%nmodel MLP 784-%dx%d-10 Adam FLOAT, batch %d, %d steps (first %d not counted), "
                + "master %s, executors with 1 core and OMP_NUM_THREADS=1%n", HIDDEN, HIDDEN_LAYERS, o.batch(), o.steps(),
                o.warmup(), o.master());
        String head = String.format(Locale.ROOT, "| %-42s | %9s | %5s | %5s | %8s | %6s | %7s | %9s | %9s | %7s | %6s |",
                "contender", "samples/s", "x fit", "ideal", "of ideal", "bubble", "step ms", "plan pred", "plan meas",
                "error", "loss");
        System.out.println(head);
        System.out.println(head.replaceAll("[^|]", "-"));
        for (ThroughputRow r : rows) {
            if (r.failure() != null) {
                System.out.printf(Locale.ROOT, "| %-42s | FAILED: %s%n", r.contender(), r.failure());
                continue;
            }
            double x = r.samplesPerSecond() / fit;
            System.out.printf(Locale.ROOT, "| %-42s | %9.1f | %5s | %5s | %8s | %6s | %7.1f | %9s | %9s | %7s | %6.4f |%n",
                    r.contender(), r.samplesPerSecond(), f2(x), r.pipeline() ? f2(r.ideal()) : "-",
                    r.pipeline() ? f2(x / r.ideal()) : "-", r.pipeline() ? f2(r.bubble()) : "-", 1e3 * r.stepSeconds(),
                    r.plan() != null ? String.format(Locale.ROOT, "%.1f", 1e3 * r.plan().predictedSeconds()) : "-",
                    r.plan() != null ? String.format(Locale.ROOT, "%.1f", 1e3 * r.plan().measuredSeconds()) : "-",
                    r.plan() != null ? String.format(Locale.ROOT, "%+.1f%%", r.plan().errorPercent()) : "-", r.loss());
        }
        double[] fits = rows.stream().filter(r -> r.contender().startsWith("fit") && r.failure() == null)
                .mapToDouble(ThroughputRow::samplesPerSecond).toArray();
        if (fits.length == 2) {
            System.out.printf(Locale.ROOT, "x fit: against the mean of fit at the start and at the end of the run (%.1f); "
                    + "the end's fit ran at %.2f of the start's%n", fit, fits[1] / fits[0]);
        }
        System.out.println("\nhow measured:");
        rows.stream().filter(r -> r.failure() == null).map(r -> r.contender().replaceFirst(" (P=|paramavg ).*", "")
                + ": " + r.how()).distinct().forEach(s -> System.out.println("  " + s));
        System.out.println("  step ms: median step after warm-up; plan pred / meas (ms) and error: "
                + "TrainingResult.planAccuracy(), the plan's predicted step vs the median step after step 0");
        System.out.println("  loss: held-out " + ThroughputRuns.EVAL_EXAMPLES + " examples after one epoch ("
                + (long) o.steps() * o.batch() + " samples)");
        printTargets(rows, o, fit);
        printBreakdown(rows, o, fit);
        double[] loadEnd = loadAverages();
        System.out.printf(Locale.ROOT, "load average: start %s, end %s%n", format(loadStart), format(loadEnd));
        if (Math.max(loadStart[0], loadEnd[0]) > QUIET_LOAD) {
            System.out.printf(Locale.ROOT, "WARNING: the machine was not quiet (1-minute load average > %.1f)%n",
                    QUIET_LOAD);
        }
    }

    private static void printTargets(List<ThroughputRow> rows, ThroughputOptions o, double fit) {
        ThroughputRow dl4j = rows.stream().filter(r -> r.contender().startsWith("dl4j-spark") && r.failure() == null)
                .max((a, b) -> Double.compare(a.samplesPerSecond(), b.samplesPerSecond())).orElse(null);
        System.out.printf(Locale.ROOT, "%ntargets (issue 10): P=2 1F1B batch 256 M=8 >= %.1fx fit and >= %.1fx DL4J Spark "
                + "(the faster DL4J Spark row%s)%n", TARGET_VS_FIT, TARGET_VS_DL4J_SPARK,
                dl4j == null ? ": none ran" : ", " + dl4j.contender());
        if (o.batch() != 256) {
            System.out.println("  stated for batch 256; this run used batch " + o.batch());
        }
        rows.stream().filter(r -> r.pipeline() && r.failure() == null && r.contender().contains(" 1f1b M=8 "))
                .forEach(r -> {
                    double vsFit = r.samplesPerSecond() / fit;
                    double vsDl4j = dl4j == null ? Double.NaN : r.samplesPerSecond() / dl4j.samplesPerSecond();
                    System.out.printf(Locale.ROOT, "  %s: %.2fx fit (%s), %.2fx DL4J Spark (%s)%n", r.contender(), vsFit,
                            vsFit >= TARGET_VS_FIT ? "met" : "NOT met", vsDl4j,
                            Double.isNaN(vsDl4j) ? "not measured" : vsDl4j >= TARGET_VS_DL4J_SPARK ? "met" : "NOT met");
                });
    }

    private static boolean onClasspath(String className) {
        try {
            Class.forName(className, false, ThroughputBenchmark.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException e) {
            return false;
        }
    }

    /** The 1-, 5- and 15-minute load averages (/proc/loadavg; else the JVM's 1-minute figure, NaN for the rest). */
    static double[] loadAverages() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return new double[] {Double.parseDouble(f[0]), Double.parseDouble(f[1]), Double.parseDouble(f[2])};
        } catch (IOException | RuntimeException e) {
            double l = java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
            return new double[] {l < 0 ? Double.NaN : l, Double.NaN, Double.NaN};
        }
    }

    private static String format(double[] load) {
        return String.format(Locale.ROOT, "%.2f %.2f %.2f", load[0], load[1], load[2]);
    }

    /** Two decimals; "-" for NaN (e.g. a ratio to a contender that did not run). */
    private static String f2(double v) {
        return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.2f", v);
    }
}
