package io.sparkmp.bench;

import io.sparkmp.examples.TransformerExample;
import io.sparkmp.plan.PipelinePlan;
import io.sparkmp.spark.PipelineTrainer;
import io.sparkmp.spark.TrainingResult;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.dataset.DataSet;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The transformer-like model of {@link TransformerExample} as a benchmark (issue 14, item 5): how the planner splits
 * it into 2 stages (stages, layers, memory, predicted step, from the profile it measures on the executors), then
 * samples per second of DL4J's own {@code fit} (this JVM, one thread) against spark-mp with P = 2 on the planner's
 * split, micro-batches and schedule, on the same mini-batches; the 1-minute load average beside each figure.
 *
 * <p>{@code mvn -B -q -pl spark-mp-examples -am -DskipTests -Ptransformer-bench package}; {@code -Dbench.args=
 * "master batch steps width blocks length"} (default {@code local[2] 32 24 64 4 32}: embedded local Spark, 24
 * mini-batches of 32 sequences of 32 tokens, width 64, 4 blocks of 4 heads). A {@code local-cluster[2,1,1024]}
 * master runs the stages in two executor JVMs (needs SPARK_HOME, which the profile prepares).
 */
public final class TransformerBenchmark {

    private static final int VOCABULARY = 32;

    private TransformerBenchmark() {
    }

    public static void main(String[] args) {
        String master = arg(args, 0, "local[2]");
        int batch = Integer.parseInt(arg(args, 1, "32"));
        int steps = Integer.parseInt(arg(args, 2, "24"));
        int width = Integer.parseInt(arg(args, 3, "64"));
        int blocks = Integer.parseInt(arg(args, 4, "4"));
        int length = Integer.parseInt(arg(args, 5, "32"));
        SparkConf sc = new SparkConf().setMaster(master).setAppName("TransformerBenchmark")
                .set("spark.ui.enabled", "false").set("spark.ui.showConsoleProgress", "false")
                .set("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
                .set("spark.kryo.registrator", io.sparkmp.spark.SparkMpKryoRegistrator.class.getName());
        if (LocalCluster.isLocalCluster(master)) {
            LocalCluster.configure(sc);
        }
        SparkSession spark = SparkSession.builder().config(sc).getOrCreate();
        int code = 0;
        try {
            if (LocalCluster.isLocalCluster(master)) {
                LocalCluster.awaitExecutors(spark.sparkContext(), master);
            }
            run(spark, master, batch, steps, width, blocks, length);
        } catch (RuntimeException e) {
            e.printStackTrace();
            code = 1;
        } finally {
            spark.stop();
        }
        System.exit(code); // a barrier task timer thread may otherwise keep the JVM alive
    }

    private static void run(SparkSession spark, String master, int batch, int steps, int width, int blocks, int length) {
        MultiLayerConfiguration conf = TransformerExample.model(length, VOCABULARY, width, 4, blocks, 42);
        List<DataSet> batches = new ArrayList<>();
        for (int s = 0; s < steps; s++) {
            batches.add(TransformerExample.examples((long) s * batch, batch, length, VOCABULARY, 42));
        }
        MultiLayerNetwork probe = new MultiLayerNetwork(conf.clone());
        probe.init();
        System.out.printf(Locale.ROOT, "model: embedding (vocabulary %d, width %d), %d blocks of [4-head self-attention, "
                        + "dense %d ReLU, dense %d], average pooling, softmax 4; %d tokens per sequence; %d layers, %d "
                        + "parameters; no residuals, layer norm or positional encoding (a MultiLayerNetwork has none)%n",
                VOCABULARY, width, blocks, 4 * width, width, length, conf.getConfs().size(), probe.numParams());

        // DL4J's own fit, this JVM: the first 4 steps warm up, the rest are timed.
        double loadFit = load();
        int warm = Math.min(4, steps - 1);
        for (int s = 0; s < warm; s++) {
            probe.fit(batches.get(s));
        }
        long t0 = System.nanoTime();
        for (int s = warm; s < steps; s++) {
            probe.fit(batches.get(s));
        }
        double fitRate = (double) (steps - warm) * batch / ((System.nanoTime() - t0) / 1e9);
        System.out.printf(Locale.ROOT, "DL4J fit: %.1f samples/s (%d timed steps of %d; load %.2f before, %.2f after)%n",
                fitRate, steps - warm, batch, loadFit, load());

        JavaRDD<DataSet> data = JavaSparkContext.fromSparkContext(spark.sparkContext()).parallelize(batches, 2);
        PipelineTrainer trainer = PipelineTrainer.builder(conf).stages(2).batchSize(batch).epochs(1).logEvery(0).build();
        double loadPlan = load();
        PipelinePlan plan = trainer.plan(data);
        System.out.println("planner's split (profile measured on the executors, load " + fmt(loadPlan) + "):");
        System.out.println(plan.explain());
        double loadTrain = load();
        TrainingResult r = trainer.fit(data);
        double steady = batch / r.medianStepSeconds();
        System.out.printf(Locale.ROOT, "spark-mp P = 2 (%s, %s, M = %d, boundaries %s): %.1f samples/s steady (median "
                        + "step %.4f s, first step left out; %.2fx fit), %.1f samples/s over the whole job with start-up; "
                        + "predicted step %.4f s; load %.2f before, %.2f after%n", master, plan.schedule().label(),
                plan.microBatches(), java.util.Arrays.toString(plan.boundaries()), steady, r.medianStepSeconds(),
                steady / fitRate, r.samplesPerSecond(), plan.predictedStepSeconds(), loadTrain, load());
    }

    private static String fmt(double v) {
        return String.format(Locale.ROOT, "%.2f", v);
    }

    private static double load() {
        double l = java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        return l < 0 ? Double.NaN : l;
    }

    private static String arg(String[] args, int i, String def) {
        return args.length > i ? args[i] : def;
    }
}
