package io.sparkmp.bench;

import io.sparkmp.ml.PipelineParallelEstimator;
import io.sparkmp.ml.PipelineParallelModel;
import io.sparkmp.store.ModelStore;
import org.apache.spark.SparkConf;
import org.apache.spark.ml.linalg.VectorUDT;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Inference throughput of one trained model on the same rows, one run each after one warm-up pass: the ML
 * model's transform pipelined over its 2 stages (a barrier job, each executor holding its stages), the same
 * transform per partition (each task holding the whole model, no barrier), and DL4J's own {@code output()} in
 * this JVM on the same rows in batches of the same size. Prints rows/s; asserts nothing.
 *
 * <p>Arguments: {@code [master] [rows] [rowsPerBatch]}, default {@code local-cluster[2,1,2048] 8192 256}. Model:
 * ThroughputBenchmark's MLP 784-1024x4-10 (FLOAT), trained one short epoch so the store is a real one.
 */
public final class InferenceBenchmark {

    private InferenceBenchmark() {
    }

    public static void main(String[] args) {
        String master = args.length > 0 ? args[0] : "local-cluster[2,1,2048]";
        int rows = args.length > 1 ? Integer.parseInt(args[1]) : 8192;
        int perBatch = args.length > 2 ? Integer.parseInt(args[2]) : 256;
        double[] loadStart = ThroughputBenchmark.loadAverages();
        System.out.printf(Locale.ROOT, "InferenceBenchmark %s, master %s, %d rows, %d rows per batch%nload at start: "
                + "%.2f %.2f %.2f (%d cores)%n", Instant.now(), master, rows, perBatch, loadStart[0], loadStart[1],
                loadStart[2], Runtime.getRuntime().availableProcessors());
        SparkConf sc = new SparkConf().setMaster(master).setAppName("InferenceBenchmark")
                .set("spark.ui.enabled", "false").set("spark.ui.showConsoleProgress", "false")
                .set("spark.mp.plan.profile", "analytic").set("spark.mp.logEvery", "0");
        if (LocalCluster.isLocalCluster(master)) {
            LocalCluster.configure(sc);
            sc.set("spark.executor.memory", LocalCluster.workerMegabytes(master) + "m");
        }
        int code = 0;
        SparkSession spark = null;
        try {
            spark = SparkSession.builder().config(sc).getOrCreate();
            if (LocalCluster.isLocalCluster(master)) {
                LocalCluster.awaitExecutors(spark.sparkContext(), master);
            }
            run(spark, rows, perBatch);
        } catch (RuntimeException e) {
            e.printStackTrace();
            code = 1;
        } finally {
            if (spark != null) {
                spark.stop();
            }
        }
        System.exit(code); // a barrier task timer thread may otherwise keep the JVM alive
    }

    private static void run(SparkSession spark, int rows, int perBatch) {
        MultiLayerConfiguration conf = ThroughputBenchmark.model(7);
        int partitions = Math.max(2, spark.sparkContext().defaultParallelism());
        Dataset<Row> train = frame(spark, 512, 1, partitions);
        Dataset<Row> data = frame(spark, rows, 2, partitions).cache();
        data.count();
        PipelineParallelModel model = new PipelineParallelEstimator().setModelConfiguration(conf.toJson())
                .setNumClasses(TeacherData.CLASSES).setStages(2).setSchedule("1f1b").setMicroBatches(4)
                .setBatchSize(64).setEpochs(1)
                .fit(train);
        List<String[]> table = new ArrayList<>();
        table.add(time("transform, pipelined (P = 2, barrier job)", rows, () -> score(model.copy(
                org.apache.spark.ml.param.ParamMap.empty()).setTransformMode("pipelined")
                .setTransformBatchSize(perBatch).transform(data))));
        table.add(time("transform, per partition (" + partitions + " tasks)", rows, () -> score(model.copy(
                org.apache.spark.ml.param.ParamMap.empty()).setTransformMode("local")
                .setTransformBatchSize(perBatch).transform(data))));
        MultiLayerNetwork net;
        try {
            net = ModelStore.open(model.store(), spark.sparkContext().hadoopConfiguration()).toNetwork();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        INDArray x = Nd4j.create(features(rows, 2)).castTo(conf.getDataType());
        table.add(time("DL4J output(), one JVM (driver)", rows, () -> {
            double sum = 0;
            for (int i = 0; i < rows; i += perBatch) {
                INDArray b = x.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(i, Math.min(rows, i + perBatch)),
                        org.nd4j.linalg.indexing.NDArrayIndex.all());
                sum += net.output(b, false).argMax(1).sumNumber().doubleValue();
            }
            return sum;
        }));
        double[] loadEnd = ThroughputBenchmark.loadAverages();
        System.out.println();
        System.out.println("| how | rows | seconds | rows/s |");
        System.out.println("|---|---|---|---|");
        for (String[] r : table) {
            System.out.println("| " + String.join(" | ", r) + " |");
        }
        System.out.printf(Locale.ROOT, "load at end: %.2f %.2f %.2f%n", loadEnd[0], loadEnd[1], loadEnd[2]);
    }

    /** Forces every prediction (a sum over the column, so no row is skipped). */
    private static double score(Dataset<Row> scored) {
        return scored.agg(functions.sum("prediction")).first().getDouble(0);
    }

    private static String[] time(String how, int rows, java.util.function.DoubleSupplier pass) {
        pass.getAsDouble(); // warm-up: JIT, native buffers, executor-side class loading
        long t0 = System.nanoTime();
        pass.getAsDouble();
        double s = (System.nanoTime() - t0) / 1e9;
        System.out.printf(Locale.ROOT, "%s: %.2f s%n", how, s);
        return new String[] {how, Integer.toString(rows), String.format(Locale.ROOT, "%.2f", s),
                String.format(Locale.ROOT, "%.0f", rows / s)};
    }

    private static double[][] features(int rows, long seed) {
        Random r = new Random(seed);
        double[][] x = new double[rows][TeacherData.FEATURES];
        for (double[] row : x) {
            for (int j = 0; j < row.length; j++) {
                row[j] = r.nextDouble();
            }
        }
        return x;
    }

    private static Dataset<Row> frame(SparkSession spark, int rows, long seed, int partitions) {
        double[][] x = features(rows, seed);
        List<Row> out = new ArrayList<>(rows);
        for (int i = 0; i < rows; i++) {
            out.add(RowFactory.create(Vectors.dense(x[i]), (double) (i % TeacherData.CLASSES)));
        }
        StructType schema = new StructType().add("features", new VectorUDT()).add("label", DataTypes.DoubleType);
        return spark.createDataFrame(out, schema).repartition(partitions);
    }
}
