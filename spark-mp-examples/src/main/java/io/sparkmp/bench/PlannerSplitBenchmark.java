package io.sparkmp.bench;

import io.sparkmp.plan.PipelinePlan;
import io.sparkmp.schedule.ScheduleKind;
import io.sparkmp.spark.PipelineTrainer;
import io.sparkmp.spark.TrainingResult;
import org.apache.spark.SparkConf;
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
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Does the planner's split beat the two splits DeepSpeed offers by default? Trains one heterogeneous model
 * (convolutions: little parameters, much time; then wide dense layers: many parameters, less time each) with
 * the same stages P, micro-batches M, schedule and steps, on three splits:
 * <ol>
 *   <li><b>planned</b>: {@code PipelineTrainer.plan} with a profile measured on the executor;</li>
 *   <li><b>uniform</b>: the same number of layers per stage;</li>
 *   <li><b>parameters</b>: stages balanced by parameter count (the largest stage's parameters minimised).</li>
 * </ol>
 * Prints, per split, the predicted step time (the planner's simulator for that split) and the measured median
 * step time (the first step left out; after one uncounted warm-up run of every split), their error, and the
 * measured ratio to uniform. Timings are not
 * asserted. On a machine with fewer cores than P, the stages share cores and the pipeline overlap the
 * simulator assumes cannot happen: read the ratios with that in mind.
 *
 * <p>Run: {@code mvn -B -q -pl spark-mp-examples -am -DskipTests -Pplanner-split-bench package}
 * ({@code -Dbench.args="local-cluster[2,1,1024] 2 4 32 10 5"}, the default: master, P, M, batch, steps,
 * repeats), or {@code java <spark flags>
 * -cp <classes and runtime jars> io.sparkmp.bench.PlannerSplitBenchmark [master] [P] [M] [batch] [steps] [repeats]}.
 * A {@code local-cluster[N,1,1024]} master (executors in separate JVMs) needs {@code SPARK_HOME} with the runtime
 * jars in {@code jars/}, {@code SPARK_SCALA_VERSION=2.12} and {@code -Dsparkmp.appJars}; the bench profile sets all
 * three.
 */
public final class PlannerSplitBenchmark {

    private PlannerSplitBenchmark() {
    }

    /** Input: 20x20 images with 16 channels. */
    static final int SIDE = 20;
    static final int CHANNELS = 16;

    /**
     * Four equal 3x3 convolutions (16 channels, 2.3 k parameters and 0.92 M multiply-adds per example each), a
     * 4x4 max-pool, three 1024-wide dense layers (0.4 M, 1.05 M and 1.05 M parameters, about as many
     * multiply-adds) and a softmax; Adam. The convolutions hold 0.4% of the parameters and, on a CPU, most of the
     * time: splitting by layer count or by parameters puts all four on stage 0.
     */
    static MultiLayerConfiguration model() {
        NeuralNetConfiguration.ListBuilder b = new NeuralNetConfiguration.Builder().seed(11).updater(new Adam(1e-3))
                .dataType(DataType.FLOAT).convolutionMode(ConvolutionMode.Same).list();
        for (int i = 1; i <= 4; i++) {
            b.layer(new ConvolutionLayer.Builder(3, 3).name("conv" + i).nOut(CHANNELS).activation(Activation.RELU).build());
        }
        b.layer(new SubsamplingLayer.Builder(SubsamplingLayer.PoolingType.MAX).name("pool").kernelSize(4, 4)
                .stride(4, 4).build());
        for (int i = 1; i <= 3; i++) {
            b.layer(new DenseLayer.Builder().name("fc" + i).nOut(1024).activation(Activation.RELU).build());
        }
        return b.layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).name("out").nOut(10)
                        .activation(Activation.SOFTMAX).build())
                .setInputType(InputType.convolutional(SIDE, SIDE, CHANNELS)).build();
    }

    public static void main(String[] args) {
        String master = arg(args, 0, "local[2]");
        int p = Integer.parseInt(arg(args, 1, "2"));
        int m = Integer.parseInt(arg(args, 2, "4"));
        int batch = Integer.parseInt(arg(args, 3, "32"));
        int steps = Integer.parseInt(arg(args, 4, "12"));
        int repeats = Integer.parseInt(arg(args, 5, "2"));
        SparkConf sc = new SparkConf().setMaster(master).setAppName("PlannerSplitBenchmark")
                .set("spark.ui.enabled", "false").set("spark.ui.showConsoleProgress", "false")
                .set("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
                .set("spark.kryo.registrator", "io.sparkmp.spark.SparkMpKryoRegistrator");
        if (LocalCluster.isLocalCluster(master)) {
            LocalCluster.configure(sc);
        }
        SparkSession spark = SparkSession.builder().config(sc).getOrCreate();
        int code = 0;
        try {
            if (LocalCluster.isLocalCluster(master)) {
                LocalCluster.awaitExecutors(spark.sparkContext(), master);
            }
            run(spark, p, m, batch, steps, repeats);
        } catch (RuntimeException e) {
            e.printStackTrace();
            code = 1;
        } finally {
            spark.stop();
        }
        System.exit(code); // a barrier task timer thread may otherwise keep the JVM alive
    }

    private static void run(SparkSession spark, int p, int m, int batch, int steps, int repeats) {
        MultiLayerConfiguration conf = model();
        JavaRDD<DataSet> data = data(JavaSparkContext.fromSparkContext(spark.sparkContext()), batch, steps);
        int layers = conf.getConfs().size();
        long[] params = new long[layers];
        for (int i = 0; i < layers; i++) {
            params[i] = conf.getConf(i).getLayer().initializer().numParams(conf.getConf(i));
        }
        double loadAtProfile = load();
        PipelinePlan planned = trainer(conf, p, m, batch, null).plan(data);
        System.out.println(planned.explain());
        System.out.printf(Locale.ROOT, "1-minute load average when profiling: %.2f on %d cores%n", loadAtProfile,
                Runtime.getRuntime().availableProcessors());
        Map<String, int[]> splits = new LinkedHashMap<>();
        splits.put("planned", planned.boundaries());
        splits.put("uniform", uniform(layers, p));
        splits.put("parameters", byParameters(params, p));

        Map<String, List<Double>> measured = new LinkedHashMap<>();
        Map<String, Double> predicted = new LinkedHashMap<>();
        // Warm-up round, not counted: one executor ran the profile, the others have run nothing yet, and the
        // first training in an executor JVM runs slower (JIT, first allocations, workspace growth).
        for (Map.Entry<String, int[]> s : splits.entrySet()) {
            TrainingResult res = trainer(conf, p, m, batch, s.getValue()).fit(data);
            System.out.printf(Locale.ROOT, "warm-up %-10s %-22s median step %.1f ms (not counted)%n", s.getKey(),
                    Arrays.toString(s.getValue()), 1e3 * res.medianStepSeconds());
        }
        for (int r = 0; r < repeats; r++) {
            for (Map.Entry<String, int[]> s : splits.entrySet()) {
                double loadBefore = load();
                TrainingResult res = trainer(conf, p, m, batch, s.getValue()).fit(data);
                predicted.put(s.getKey(), res.plan().predictedStepSeconds());
                measured.computeIfAbsent(s.getKey(), k -> new ArrayList<>()).add(res.medianStepSeconds());
                System.out.printf(Locale.ROOT, "run %d %-10s %-22s median step %.1f ms (load average %.2f)%n", r,
                        s.getKey(), Arrays.toString(s.getValue()), 1e3 * res.medianStepSeconds(), loadBefore);
            }
        }
        double uniformMs = 1e3 * median(measured.get("uniform"));
        System.out.printf(Locale.ROOT, "%nmodel: %d layers, %d parameters; P=%d, M=%d, schedule 1f1b, batch %d, "
                + "%d steps per run (first left out), median of %d runs after a warm-up round; master %s%n", layers,
                Arrays.stream(params).sum(), p, m, batch, steps, repeats, spark.sparkContext().master());
        System.out.printf(Locale.ROOT, "%-11s %-12s %-20s %12s %12s %8s %10s %18s%n", "split", "boundaries",
                "params per stage", "predicted ms", "measured ms", "error %", "vs uniform", "runs min..max ms");
        for (Map.Entry<String, int[]> s : splits.entrySet()) {
            List<Double> runs = measured.get(s.getKey());
            double meas = 1e3 * median(runs);
            double pred = 1e3 * predicted.get(s.getKey());
            System.out.printf(Locale.ROOT, "%-11s %-12s %-20s %12.1f %12.1f %+8.1f %9.2fx %8.1f..%-8.1f%n",
                    s.getKey(), Arrays.toString(s.getValue()), Arrays.toString(stageSums(params, s.getValue())), pred,
                    meas, (pred - meas) / meas * 100, meas / uniformMs,
                    1e3 * runs.stream().mapToDouble(Double::doubleValue).min().orElse(Double.NaN),
                    1e3 * runs.stream().mapToDouble(Double::doubleValue).max().orElse(Double.NaN));
        }
        // Other processes on the machine slow the profile and the runs by different amounts: the spread of one
        // split's runs bounds how closely any prediction from one profile can match.
        System.out.printf(Locale.ROOT, "1-minute load average: %.2f when profiling, %.2f now (%d cores)%n",
                loadAtProfile, load(), Runtime.getRuntime().availableProcessors());
    }

    private static PipelineTrainer trainer(MultiLayerConfiguration conf, int p, int m, int batch, int[] boundaries) {
        // replicas 1: the benchmark compares splits of one pipeline, which spare slots must not turn into replicas
        PipelineTrainer.Builder b = PipelineTrainer.builder(conf).stages(p).replicas(1).microBatches(m)
                .schedule(ScheduleKind.ONE_F_ONE_B).batchSize(batch).epochs(1).logEvery(0);
        if (boundaries != null) {
            b.boundaries(boundaries);
        }
        return b.build();
    }

    /** {@code steps} mini-batches of random images with one-hot labels, in 4 partitions. */
    private static JavaRDD<DataSet> data(JavaSparkContext jsc, int batch, int steps) {
        Nd4j.getRandom().setSeed(5);
        List<DataSet> chunks = new ArrayList<>();
        for (int s = 0; s < steps; s++) {
            INDArray x = Nd4j.rand(DataType.FLOAT, batch, CHANNELS, SIDE, SIDE);
            INDArray y = Nd4j.zeros(DataType.FLOAT, batch, 10);
            for (int i = 0; i < batch; i++) {
                y.putScalar(i, (s * batch + i) % 10, 1f);
            }
            chunks.add(new DataSet(x, y));
        }
        return jsc.parallelize(chunks, 4);
    }

    /** The same number of layers per stage (the first stages get one fewer when it does not divide). */
    static int[] uniform(int layers, int p) {
        int[] b = new int[p + 1];
        for (int s = 0; s <= p; s++) {
            b[s] = (int) ((long) s * layers / p);
        }
        return b;
    }

    /** Contiguous split minimising the largest stage's parameter count (dynamic program, ties: earliest cut). */
    static int[] byParameters(long[] params, int p) {
        int n = params.length;
        long[] prefix = new long[n + 1];
        for (int i = 0; i < n; i++) {
            prefix[i + 1] = prefix[i] + params[i];
        }
        long[][] best = new long[p + 1][n + 1];
        int[][] cut = new int[p + 1][n + 1];
        for (long[] row : best) {
            Arrays.fill(row, Long.MAX_VALUE);
        }
        best[0][0] = 0;
        for (int s = 1; s <= p; s++) {
            for (int b = s; b <= n; b++) {
                for (int a = s - 1; a < b; a++) {
                    if (best[s - 1][a] == Long.MAX_VALUE) {
                        continue;
                    }
                    long v = Math.max(best[s - 1][a], prefix[b] - prefix[a]);
                    if (v < best[s][b]) {
                        best[s][b] = v;
                        cut[s][b] = a;
                    }
                }
            }
        }
        int[] out = new int[p + 1];
        out[p] = n;
        for (int s = p; s > 0; s--) {
            out[s - 1] = cut[s][out[s]];
        }
        return out;
    }

    private static long[] stageSums(long[] params, int[] b) {
        long[] out = new long[b.length - 1];
        for (int s = 0; s + 1 < b.length; s++) {
            for (int i = b[s]; i < b[s + 1]; i++) {
                out[s] += params[i];
            }
        }
        return out;
    }

    private static double median(List<Double> v) {
        double[] s = v.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    /** The 1-minute system load average (NaN where the platform does not tell it). */
    private static double load() {
        double l = java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        return l < 0 ? Double.NaN : l;
    }

    private static String arg(String[] args, int i, String def) {
        return args.length > i ? args[i] : def;
    }
}
