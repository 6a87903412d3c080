package io.sparkmp.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

import io.sparkmp.model.GraphProfiler;
import io.sparkmp.model.GraphSlicer;
import io.sparkmp.plan.ModelProfile;
import io.sparkmp.plan.PipelinePlan;
import io.sparkmp.plan.PipelinePlanner;
import io.sparkmp.runtime.GraphPipeline;
import io.sparkmp.schedule.ScheduleKind;
import io.sparkmp.spark.PipelineTrainer;
import io.sparkmp.spark.SparkMpKryoRegistrator;
import io.sparkmp.spark.StepReport;
import io.sparkmp.spark.TrainingResult;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.zoo.model.ResNet50;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;

/**
 * DL4J's zoo ResNet50 (built from its configuration, fresh weights, nothing downloaded) as a graph pipeline: the
 * planner's plan at P = 2 and 4 (stages, what crosses each cut, memory per stage) from the analytic graph profile,
 * then the measured step time of DL4J's own {@code ComputationGraph.fit}, of the pipeline on one stage (P = 1, in
 * this thread) and of the planner's P = 2 split (one thread per device over in-process tensor channels), in one
 * JVM. A pipeline step time is the difference of two runs (1 and 1 + steps mini-batches) divided by the steps, so
 * stage building and the first step's warm-up are left out; fit's is the median of its steps after the first.
 * The machine's load average is printed beside the numbers. With a sixth argument, a Spark master such as
 * {@code local-cluster[2,1,4096]}, the same model is then planned and trained by {@link PipelineTrainer} on that
 * cluster (one barrier task per executor JVM, tensors over authenticated sockets): the plan it ran, the per-step
 * times (the first left out of the median) and the loss of each step.
 *
 * <pre>
 * OMP_NUM_THREADS=1 mvn -B -q -o -pl spark-mp-examples -DskipTests -Pzoo-bench package
 *   (bench.args: image size, batch, timed steps, micro-batches of the P = 2 run, data type[, master];
 *    default 96 8 3 2 FLOAT local-cluster[2,1,4096])
 * </pre>
 */
public final class ZooGraphBenchmark {

    private ZooGraphBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        int size = args.length > 0 ? Integer.parseInt(args[0]) : 96;
        int batch = args.length > 1 ? Integer.parseInt(args[1]) : 8;
        int steps = args.length > 2 ? Integer.parseInt(args[2]) : 3;
        int micro = args.length > 3 ? Integer.parseInt(args[3]) : 2;
        DataType dt = DataType.valueOf(args.length > 4 ? args[4] : "FLOAT");
        Nd4j.setDefaultDataTypes(dt, dt);
        System.out.printf(Locale.ROOT, "ZooGraphBenchmark: ResNet50 %dx%dx3, 10 classes, %s, batch %d, Adam; load %s%n",
                size, size, dt, batch, load());

        ComputationGraphConfiguration conf = ResNet50.builder().numClasses(10).inputShape(new int[] {3, size, size})
                .updater(new Adam(1e-3)).build().graphBuilder().build();
        conf.setDataType(dt);
        for (GraphVertex v : conf.getVertices().values()) {
            if (v instanceof LayerVertex lv) {
                lv.getLayerConf().setDataType(dt);
            }
        }
        int vertices = GraphSlicer.order(conf).size();
        // Analytic times at 1e10 FLOP/s (a rate, not a measurement): the plan depends on the ratios only.
        ModelProfile profile = GraphProfiler.analytic(conf, 1e10, InputType.convolutional(size, size, 3));
        PipelinePlan plan2 = null;
        for (int p : new int[] {2, 4}) {
            PipelinePlan plan = PipelinePlanner.builder().profile(profile).executors(p).deviceMemoryBytes(8L << 30)
                    .bandwidthBytesPerSecond(1e9).latencySeconds(0).batchSize(batch).stages(p).microBatches(micro)
                    .schedule(ScheduleKind.ONE_F_ONE_B).build().plan();
            System.out.println("\nplan P=" + p + " (" + vertices + " vertices, boundaries "
                    + Arrays.toString(plan.boundaries()) + "):\n" + plan.explain());
            if (p == 2) {
                plan2 = plan;
            }
        }

        List<MultiDataSet> data = data(size, batch, steps + 1, dt);
        double fitMs = fitStepMs(conf, data);
        System.out.printf(Locale.ROOT, "fit: %.1f ms/step (load %s)%n", fitMs, load());
        double p1 = pipelineStepMs(conf, new int[] {0, vertices}, 1, 1, data, steps);
        System.out.printf(Locale.ROOT, "P=1 M=1: %.1f ms/step (load %s)%n", p1, load());
        double p2 = pipelineStepMs(conf, plan2.boundaries(), 2, micro, data, steps);
        System.out.printf(Locale.ROOT, "P=2 M=%d: %.1f ms/step (load %s)%n", micro, p2, load());

        System.out.printf(Locale.ROOT, "%n%-34s %10s %10s %8s%n", "run", "ms/step", "samples/s", "vs fit");
        row("ComputationGraph.fit", fitMs, fitMs, batch);
        row("pipeline P=1 M=1 (one thread)", p1, fitMs, batch);
        row("pipeline P=2 M=" + micro + " 1F1B (two threads)", p2, fitMs, batch);
        System.out.println("load at end " + load() + " (" + Runtime.getRuntime().availableProcessors() + " cores)");
        if (args.length > 5) {
            onCluster(args[5], conf, size, batch, micro, steps, dt);
        }
    }

    /** The graph planned and trained by PipelineTrainer at P = 2 on {@code master}: plan, step times, losses. */
    private static void onCluster(String master, ComputationGraphConfiguration conf, int size, int batch, int micro,
                                  int steps, DataType dt) {
        SparkConf sc = new SparkConf().setMaster(master).setAppName("ZooGraphBenchmark")
                .set("spark.ui.enabled", "false").set("spark.ui.showConsoleProgress", "false")
                .set("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
                .set("spark.kryo.registrator", SparkMpKryoRegistrator.class.getName());
        if (LocalCluster.isLocalCluster(master)) {
            LocalCluster.configure(sc);
            // the executor heap: what the worker offers, less what ND4J's off-heap arrays need
            sc.set("spark.executor.memory", (LocalCluster.workerMegabytes(master) / 2) + "m");
        }
        SparkSession spark = SparkSession.builder().config(sc).getOrCreate();
        try {
            if (LocalCluster.isLocalCluster(master)) {
                LocalCluster.awaitExecutors(spark.sparkContext(), master);
            }
            int n = steps + 2; // the first step (JIT, workspaces) is left out of the median
            JavaRDD<MultiDataSet> data = JavaSparkContext.fromSparkContext(spark.sparkContext())
                    .parallelize(data(size, batch, n, dt), 2);
            TrainingResult r = PipelineTrainer.builder(conf).stages(2).microBatches(micro).batchSize(batch).epochs(1)
                    .logEvery(0).inputTypes(InputType.convolutional(size, size, 3)).build().fitMultiDataSet(data);
            System.out.println("\nPipelineTrainer on " + master + ", plan it ran:\n" + r.plan().explain());
            StringBuilder losses = new StringBuilder();
            StringBuilder times = new StringBuilder();
            for (StepReport st : r.metrics()) {
                losses.append(String.format(Locale.ROOT, " %.4f", st.loss()));
                times.append(String.format(Locale.ROOT, " %.2f", st.stepSeconds()));
            }
            System.out.printf(Locale.ROOT, "%s P=2 M=%d %s: %d steps, step seconds%s; median after the first %.2f s "
                            + "(%.2f samples/s); predicted %.2f s; losses%s; load %s%n", master, r.plan().microBatches(),
                    r.plan().schedule().label(), r.metrics().size(), times, r.medianStepSeconds(),
                    batch / r.medianStepSeconds(), r.plan().predictedStepSeconds(), losses, load());
        } finally {
            spark.stop();
        }
    }

    private static void row(String name, double ms, double fitMs, int batch) {
        System.out.printf(Locale.ROOT, "%-34s %10.1f %10.2f %7.2fx%n", name, ms, 1e3 * batch / ms, fitMs / ms);
    }

    private static double fitStepMs(ComputationGraphConfiguration conf, List<MultiDataSet> data) {
        ComputationGraph g = new ComputationGraph(conf.clone());
        g.init();
        double[] ms = new double[data.size() - 1];
        StringBuilder scores = new StringBuilder();
        for (int i = 0; i < data.size(); i++) {
            long t0 = System.nanoTime();
            g.fit(data.get(i));
            if (i > 0) {
                ms[i - 1] = (System.nanoTime() - t0) / 1e6;
            }
            scores.append(String.format(Locale.ROOT, " %.4f", g.score()));
        }
        System.out.println("fit: losses" + scores + " (DL4J's own initialisation)");
        Arrays.sort(ms);
        return ms[ms.length / 2];
    }

    private static double pipelineStepMs(ComputationGraphConfiguration conf, int[] boundaries, int p, int m,
                                         List<MultiDataSet> data, int steps) {
        GraphPipeline pipeline = new GraphPipeline(new GraphPipeline.Spec(conf, boundaries, ScheduleKind.ONE_F_ONE_B, p,
                m, 1, 42), null);
        long t0 = System.nanoTime();
        run(pipeline, p, data.subList(0, 1));
        long t1 = System.nanoTime();
        run(pipeline, p, data.subList(0, 1 + steps));
        long t2 = System.nanoTime();
        return ((t2 - t1) - (t1 - t0)) / 1e6 / steps;
    }

    private static void run(GraphPipeline pipeline, int p, List<MultiDataSet> data) {
        if (p == 1) {
            pipeline.fit(data, 1);
        } else {
            pipeline.fitOnThreads(data, 1, Duration.ofMinutes(10));
        }
    }

    private static List<MultiDataSet> data(int size, int batch, int n, DataType dt) {
        Random r = new Random(7);
        List<MultiDataSet> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            float[] x = new float[batch * 3 * size * size];
            for (int k = 0; k < x.length; k++) {
                x[k] = (float) r.nextGaussian();
            }
            INDArray y = Nd4j.zeros(dt, batch, 10);
            for (int k = 0; k < batch; k++) {
                y.putScalar(k, r.nextInt(10), 1.0);
            }
            out.add(new org.nd4j.linalg.dataset.MultiDataSet(
                    new INDArray[] {Nd4j.create(x, new long[] {batch, 3, size, size}, 'c').castTo(dt)}, new INDArray[] {y}));
        }
        return out;
    }

    private static String load() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (Exception e) {
            return "unknown";
        }
    }
}
