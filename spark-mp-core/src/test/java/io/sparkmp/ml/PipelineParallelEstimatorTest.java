package io.sparkmp.ml;

import io.sparkmp.store.ModelStore;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.evaluation.MulticlassClassificationEvaluator;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.tuning.ParamGridBuilder;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Spark ML classes on an in-process local[2] Spark (real barrier jobs and sockets between two tasks of one
 * JVM): a Pipeline from CSV fits, transforms both ways to the same predictions as DL4J's own output of the trained
 * layers, evaluates, saves and loads; Params validate, copy and explain; bad input is named before any job.
 */
class PipelineParallelEstimatorTest {

    private static SparkSession spark;

    @TempDir
    static Path dir;

    @BeforeAll
    static void start() {
        spark = MlFixtures.localSpark("PipelineParallelEstimatorTest");
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    @Test
    void pipelineFromCsvFitsTransformsBothWaysEvaluatesAndRoundTrips() throws Exception {
        Dataset<Row> train = MlFixtures.readCsv(spark, MlFixtures.writeCsv(dir, 160, 1));
        Dataset<Row> test = MlFixtures.readCsv(spark, MlFixtures.writeCsv(dir, 60, 2));
        PipelineModel fitted = MlFixtures.pipeline(MlFixtures.estimator()).fit(train);
        PipelineParallelModel model = (PipelineParallelModel) fitted.stages()[2];
        assertEquals(2, model.devices());
        assertEquals(3, model.getNumClasses());

        Dataset<Row> local = fitted.transform(test);
        PipelineParallelModel pipelinedModel = model.copy(ParamMap.empty()).setTransformMode("pipelined");
        assertTrue(pipelinedModel.transformsPipelined());
        Dataset<Row> features = ((org.apache.spark.ml.Transformer) fitted.stages()[0]).transform(
                ((org.apache.spark.ml.Transformer) fitted.stages()[1]).transform(test));
        Dataset<Row> pipelined = pipelinedModel.transform(features);
        List<double[]> a = rowsByFeatures(local);
        List<double[]> b = rowsByFeatures(pipelined);
        assertEquals(60, a.size());
        assertEquals(a.size(), b.size());
        for (int i = 0; i < a.size(); i++) {
            assertArrayEquals(a.get(i), b.get(i), 0.0, "row " + i + ": pipelined and per-partition outputs differ");
        }

        // The same layers in one DL4J network give the same probabilities.
        MultiLayerNetwork net = ModelStore.open(model.store(), spark.sparkContext().hadoopConfiguration()).toNetwork();
        for (Row r : local.select("features", "probability").collectAsList()) {
            INDArray out = net.output(Nd4j.create(new double[][] {((Vector) r.get(0)).toArray()}));
            assertArrayEquals(out.toDoubleVector(), ((Vector) r.get(1)).toArray(), 1e-12);
        }

        double accuracy = new MulticlassClassificationEvaluator().setMetricName("accuracy").evaluate(local);
        assertTrue(accuracy > 0.85, "accuracy " + accuracy);

        // Round trips: the model alone and the whole PipelineModel.
        String modelPath = dir.resolve("model").toString();
        model.write().overwrite().save(modelPath);
        model.write().overwrite().save(modelPath);
        PipelineParallelModel loaded = PipelineParallelModel.load(modelPath);
        assertEquals(model.uid(), loaded.uid());
        assertEquals(model.extractParamMap().toString(), loaded.extractParamMap().toString());
        assertArrayEquals(model.stageBoundaries(), loaded.stageBoundaries());
        assertTrue(Files.exists(dir.resolve("model/store/" + ModelStore.MANIFEST)), "layers in a per-layer store");
        assertEqualRows(a, rowsByFeatures(loaded.transform(features)));

        String pipelinePath = dir.resolve("pipeline").toString();
        fitted.write().overwrite().save(pipelinePath);
        PipelineModel loadedPipeline = PipelineModel.load(pipelinePath);
        assertEqualRows(a, rowsByFeatures(loadedPipeline.transform(test)));

        // A model written in another format version is refused, naming both versions.
        Path split = dir.resolve("model/" + ModelPersistence.SPLIT_FILE);
        Files.writeString(split, Files.readString(split).replaceFirst("\"format\" : 1", "\"format\" : 99"));
        Files.deleteIfExists(dir.resolve("model/." + ModelPersistence.SPLIT_FILE + ".crc")); // Hadoop's local checksum
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> PipelineParallelModel.load(modelPath));
        assertTrue(e.getMessage().contains("model format 99") && e.getMessage().contains("reads model format 1"),
                e.getMessage());
    }

    @Test
    void interleavedSplitTransformsPipelinedAsPerPartition() throws Exception {
        Dataset<Row> train = MlFixtures.readCsv(spark, MlFixtures.writeCsv(dir, 64, 3));
        PipelineModel fitted = MlFixtures.pipeline(MlFixtures.estimator().setSchedule("interleaved")
                .setStagesPerDevice(2).setEpochs(1)).fit(train);
        PipelineParallelModel model = (PipelineParallelModel) fitted.stages()[2];
        assertEquals(5, model.stageBoundaries().length, "4 virtual stages on 2 devices");
        Dataset<Row> features = ((org.apache.spark.ml.Transformer) fitted.stages()[0]).transform(
                ((org.apache.spark.ml.Transformer) fitted.stages()[1]).transform(train));
        List<double[]> local = rowsByFeatures(model.copy(ParamMap.empty()).setTransformMode("local").transform(features));
        List<double[]> pipelined = rowsByFeatures(model.copy(ParamMap.empty()).setTransformMode("pipelined")
                .setTransformBatchSize(5).transform(features));
        assertEquals(64, local.size());
        assertEqualRows(local, pipelined);
    }

    @Test
    void paramsHaveDefaultsDocsValidatorsAndCopyWithGridMaps() throws Exception {
        PipelineParallelEstimator est = new PipelineParallelEstimator();
        assertEquals("features", est.getFeaturesCol());
        assertEquals(32, est.getBatchSize());
        assertEquals(42L, est.getSeed());
        assertFalse(est.isDefined(est.stages()), "stages unset: the planner chooses");
        String explained = est.explainParams();
        for (String name : List.of("featuresCol", "labelCol", "predictionCol", "probabilityCol", "modelConfiguration",
                "numClasses", "stages", "microBatches", "schedule", "stagesPerDevice", "replicas", "batchSize", "epochs", "seed",
                "shuffle", "checkpointDir", "transformMode")) {
            assertTrue(explained.contains(name + ":"), name + " missing from explainParams:\n" + explained);
        }
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> est.setBatchSize(0));
        assertTrue(bad.getMessage().contains("batchSize") && bad.getMessage().contains("0"), bad.getMessage());
        bad = assertThrows(IllegalArgumentException.class, () -> est.setReplicas(0));
        assertTrue(bad.getMessage().contains("replicas") && bad.getMessage().contains("0"), bad.getMessage());
        bad = assertThrows(IllegalArgumentException.class, () -> est.setSchedule("zigzag"));
        assertTrue(bad.getMessage().contains("zigzag"), bad.getMessage());
        assertThrows(IllegalArgumentException.class, () -> est.setModelConfiguration("{not json"));

        ParamMap[] grid = new ParamGridBuilder().addGrid(est.batchSize(), new int[] {8, 16})
                .addGrid(est.microBatches(), new int[] {2}).build();
        assertEquals(2, grid.length);
        PipelineParallelEstimator copy = est.copy(grid[1]);
        assertEquals(est.uid(), copy.uid());
        assertEquals(16, copy.getBatchSize());
        assertEquals(2, (Integer) copy.getOrDefault(copy.microBatches()));
        assertEquals(32, est.getBatchSize(), "copy must not change the original");

        // The estimator saves and loads with Spark ML's default writer (so an unfitted Pipeline holding it does too).
        String path = dir.resolve("estimator").toString();
        copy.setModelConfiguration(MlFixtures.classifier().toJson()).write().overwrite().save(path);
        PipelineParallelEstimator loaded = PipelineParallelEstimator.load(path);
        assertEquals(copy.uid(), loaded.uid());
        assertEquals(copy.extractParamMap().toString(), loaded.extractParamMap().toString());
    }

    @Test
    void badInputIsNamedBeforeAnyJob() {
        StructType schema = new StructType().add("features", new org.apache.spark.ml.linalg.VectorUDT())
                .add("label", DataTypes.DoubleType);
        Dataset<Row> wrongSize = spark.createDataFrame(List.of(RowFactory.create(Vectors.dense(1, 2, 3), 0.0)), schema);
        PipelineParallelEstimator est = MlFixtures.estimator();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> est.fit(wrongSize));
        assertTrue(e.getMessage().contains("size 3") && e.getMessage().contains("expects 4"), e.getMessage());

        e = assertThrows(IllegalArgumentException.class, () -> est.copy(ParamMap.empty()).setLabelCol("y")
                .fit(wrongSize));
        assertTrue(e.getMessage().contains("label column `y` not found"), e.getMessage());

        e = assertThrows(IllegalArgumentException.class, () -> est.copy(ParamMap.empty()).setNumClasses(4)
                .fit(wrongSize));
        assertTrue(e.getMessage().contains("nOut 3") && e.getMessage().contains("numClasses is 4"), e.getMessage());

        e = assertThrows(IllegalArgumentException.class, () -> est.copy(ParamMap.empty()).setBatchSize(15)
                .fit(spark.createDataFrame(List.of(RowFactory.create(Vectors.dense(1, 2, 3, 4), 0.0)), schema)));
        assertTrue(e.getMessage().contains("microBatches (2) must divide batchSize (15)"), e.getMessage());

        // replicas reaches the trainer: 3 replicas x 2 micro-batches do not divide the mini-batch of 16
        e = assertThrows(IllegalArgumentException.class, () -> est.copy(ParamMap.empty()).setReplicas(3)
                .fit(spark.createDataFrame(List.of(RowFactory.create(Vectors.dense(1, 2, 3, 4), 0.0)), schema)));
        assertTrue(e.getMessage().contains("replicas") && e.getMessage().contains("3")
                && e.getMessage().contains("16"), e.getMessage());
    }

    /**
     * Same rows, same predictions, probabilities within 1e-12: the same forward, but a batch of another row count
     * lets BLAS sum a product in another order (seen: 1 ulp between batches of 7 and 256 rows).
     */
    static void assertEqualRows(List<double[]> expected, List<double[]> actual) {
        assertEquals(expected.size(), actual.size());
        for (int i = 0; i < expected.size(); i++) {
            assertArrayEquals(expected.get(i), actual.get(i), 1e-12, "row " + i);
        }
    }

    /** Per row: features, then prediction, then probabilities; sorted by features (pipelined keeps no order). */
    static List<double[]> rowsByFeatures(Dataset<Row> scored) {
        return scored.select("features", "prediction", "probability").collectAsList().stream().map(r -> {
            double[] f = ((Vector) r.get(0)).toArray();
            double[] p = ((Vector) r.get(2)).toArray();
            double[] out = new double[f.length + 1 + p.length];
            System.arraycopy(f, 0, out, 0, f.length);
            out[f.length] = r.getDouble(1);
            System.arraycopy(p, 0, out, f.length + 1, p.length);
            return out;
        }).sorted(Comparator.comparingDouble((double[] x) -> x[0]).thenComparingDouble(x -> x[1])).toList();
    }
}
