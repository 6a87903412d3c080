package io.sparkmp.spark;

import io.sparkmp.model.GraphModels;
import io.sparkmp.schedule.ScheduleKind;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;

import java.net.URI;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * ComputationGraph training through {@link PipelineTrainer} on an in-process local[3] Spark, over the real barrier
 * task and sockets: parameters, updater state and losses against DL4J's {@code ComputationGraph.fit} on the same
 * mini-batches (the transfer-learned fixture too: frozen vertices on the first stages); the driver-side refusals. (Across executor JVMs: {@code GraphTrainingIT}.)
 */
class GraphTrainingTest {

    private static SparkSession spark;
    private static JavaSparkContext jsc;

    @BeforeAll
    static void start() {
        spark = SparkSession.builder().master("local[3]").appName("GraphTrainingTest")
                .config("spark.ui.enabled", "false")
                .config("spark.executor.heartbeatInterval", "100ms")
                .config("spark.stage.maxConsecutiveAttempts", "1")
                .config("spark.mp.slotWaitTimeout", "1s")
                .getOrCreate();
        jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    static final int BATCH = 8;
    static final int STEPS = 3;

    @ParameterizedTest(name = "{0} P={1} M={2} {3}")
    @CsvSource({"residual, 2, 2, 1f1b", "twoInTwoOut, 2, 4, gpipe", "transfer, 3, 2, 1f1b"})
    void equalsComputationGraphFit(String fixture, int stages, int m, String schedule) {
        ComputationGraphConfiguration conf = GraphModels.of(fixture);
        List<MultiDataSet> batches = GraphModels.data(fixture, STEPS, BATCH, 17);
        GraphModels.Reference ref = GraphModels.referenceFit(conf, batches, 1, 5);
        TrainingResult r = PipelineTrainer.builder(conf).stages(stages).microBatches(m)
                .schedule(ScheduleKind.parse(schedule)).batchSize(BATCH).seed(5).build()
                .fitMultiDataSet(jsc.parallelize(batches, 2));
        assertClose(ref, r.graph(), r);
        if (fixture.equals("transfer")) { // frozen vertices (setFeatureExtractor): their parameters never moved
            java.util.Map<String, INDArray> start = io.sparkmp.model.GraphParameters.initial(conf, 5);
            for (String v : List.of("d0", "d1")) {
                assertEquals(start.get(v), r.graph().getVertex(v).getLayer().params().reshape(start.get(v).length()), v);
            }
            assertTrue(io.sparkmp.model.GraphSupport.isFrozen(r.graph().getVertex("add")));
        }
    }

    @Test
    void aDryRunPlansWhatTheFitThenRuns() {
        ComputationGraphConfiguration conf = GraphModels.of("residual");
        List<MultiDataSet> batches = GraphModels.data("residual", STEPS, BATCH, 17);
        PipelineTrainer trainer = PipelineTrainer.builder(conf).stages(2).microBatches(2).batchSize(BATCH).seed(5)
                .build();
        JavaRDD<MultiDataSet> data = jsc.parallelize(batches, 2);
        io.sparkmp.plan.PipelinePlan dry = trainer.planMultiDataSet(data);
        assertEquals(2, dry.stages().size());
        assertEquals(2, dry.microBatches());
        TrainingResult r = trainer.fitMultiDataSet(data);
        assertEquals(java.util.Arrays.toString(dry.boundaries()), java.util.Arrays.toString(r.plan().boundaries()));
        assertEquals(dry.explain(), r.plan().explain().substring(0, dry.explain().length()));
        IllegalStateException noTypes = assertThrows(IllegalStateException.class,
                () -> trainer.plan(spark.sparkContext()));
        assertTrue(noTypes.getMessage().contains("inputTypes"), noTypes.getMessage());
        IllegalStateException mln = assertThrows(IllegalStateException.class, () -> PipelineTrainer
                .builder(tinyLayers()).build()
                .planMultiDataSet(data));
        assertTrue(mln.getMessage().contains("MultiLayerConfiguration"), mln.getMessage());
    }

    private static org.deeplearning4j.nn.conf.MultiLayerConfiguration tinyLayers() {
        return new org.deeplearning4j.nn.conf.NeuralNetConfiguration.Builder().list()
                .layer(new org.deeplearning4j.nn.conf.layers.DenseLayer.Builder().nIn(4).nOut(3).build())
                .layer(new org.deeplearning4j.nn.conf.layers.OutputLayer.Builder().nIn(3).nOut(2).build()).build();
    }

    /** Parameters, updater state, iteration count and per-step losses of {@code got} against DL4J's fit. */
    static void assertClose(GraphModels.Reference ref, ComputationGraph got, TrainingResult r) {
        assertEquals(STEPS, got.getIterationCount());
        double p = relativeError(got.params(), ref.graph().params());
        assertTrue(p <= 1e-9, "relative parameter error " + p);
        INDArray want = ref.graph().getUpdater().getStateViewArray();
        double s = relativeError(got.getUpdater().getStateViewArray(), want);
        assertTrue(s <= 1e-9, "relative updater-state error " + s);
        System.out.printf("graph vs ComputationGraph.fit: relative parameter error %.3g, updater-state error %.3g%n", p, s);
        assertEquals(STEPS, r.metrics().size());
        for (int i = 0; i < STEPS; i++) {
            double w = ref.scores().get(i);
            assertEquals(w, r.metrics().get(i).loss(), 1e-9 * Math.abs(w), "loss of step " + i);
        }
    }

    static double relativeError(INDArray actual, INDArray expected) {
        return actual.sub(expected).norm2Number().doubleValue() / expected.norm2Number().doubleValue();
    }

    /** The two-input two-output fixture's mini-batches as rows: a, b (arrays), ya (class index), yb (array). */
    static org.apache.spark.sql.Dataset<org.apache.spark.sql.Row> twoInTwoOutRows(List<MultiDataSet> batches) {
        List<org.apache.spark.sql.Row> rows = new java.util.ArrayList<>();
        for (MultiDataSet ds : batches) {
            for (int i = 0; i < ds.getFeatures(0).size(0); i++) {
                rows.add(org.apache.spark.sql.RowFactory.create(
                        ds.getFeatures(0).getRow(i).toDoubleVector(),
                        ds.getFeatures(1).getRow(i).toDoubleVector(),
                        ds.getLabels(0).getRow(i).argMax().getInt(0),
                        ds.getLabels(1).getRow(i).toDoubleVector()));
            }
        }
        org.apache.spark.sql.types.DataType doubles = org.apache.spark.sql.types.DataTypes.createArrayType(
                org.apache.spark.sql.types.DataTypes.DoubleType);
        org.apache.spark.sql.types.StructType schema = new org.apache.spark.sql.types.StructType()
                .add("a", doubles).add("b", doubles).add("ya", org.apache.spark.sql.types.DataTypes.IntegerType)
                .add("yb", doubles);
        return spark.createDataFrame(rows, schema).coalesce(1);
    }

    @Test
    void severalFeatureAndLabelColumnsEqualComputationGraphFit() {
        ComputationGraphConfiguration conf = GraphModels.twoInTwoOut();
        List<MultiDataSet> batches = GraphModels.data("twoInTwoOut", STEPS, BATCH, 23);
        GraphModels.Reference ref = GraphModels.referenceFit(conf, batches, 1, 5);
        TrainingResult r = PipelineTrainer.builder(conf).stages(2).microBatches(2).batchSize(BATCH).seed(5)
                .featureColumns("a", "b").labelColumns("ya", "yb").labelClasses(3, 0).build()
                .fit(twoInTwoOutRows(batches));
        assertClose(ref, r.graph(), r);
    }

    @Test
    void columnsThatDoNotMatchTheGraphFailOnTheDriver() {
        IllegalArgumentException count = assertThrows(IllegalArgumentException.class, () -> PipelineTrainer
                .builder(GraphModels.twoInTwoOut()).featureColumns("a").labelColumns("ya", "yb").labelClasses(3, 0)
                .build());
        assertTrue(count.getMessage().contains("featureColumns [a] name 1 columns, the graph has 2 inputs [a, b]"),
                count.getMessage());
        org.apache.spark.sql.Dataset<org.apache.spark.sql.Row> rows =
                twoInTwoOutRows(GraphModels.data("twoInTwoOut", 1, BATCH, 3));
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class, () -> PipelineTrainer
                .builder(GraphModels.twoInTwoOut()).stages(2).batchSize(BATCH).featureColumns("a", "bb")
                .labelColumns("ya", "yb").labelClasses(3, 0).build().fit(rows));
        assertTrue(missing.getMessage().contains("bb"), missing.getMessage());
        IllegalArgumentException range = assertThrows(IllegalArgumentException.class, () -> PipelineTrainer
                .builder(GraphModels.twoInTwoOut()).stages(2).batchSize(BATCH).featureColumns("a", "b")
                .labelColumns("ya", "yb").labelClasses(2, 0).build().fit(rows));
        assertTrue(range.getMessage().contains("column `ya`") && range.getMessage().contains("[0, 2)"),
                range.getMessage());
    }

    @Test
    void labelsForAMissingOutputFailOnTheDriver() {
        ComputationGraphConfiguration conf = GraphModels.twoInTwoOut();
        MultiDataSet ok = GraphModels.data("twoInTwoOut", 1, BATCH, 3).get(0);
        MultiDataSet extra = new org.nd4j.linalg.dataset.MultiDataSet(ok.getFeatures(),
                new INDArray[] {ok.getLabels(0), ok.getLabels(1), ok.getLabels(1)});
        JavaRDD<MultiDataSet> rdd = jsc.parallelize(List.of(extra));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PipelineTrainer.builder(conf)
                .stages(2).batchSize(BATCH).build().fitMultiDataSet(rdd));
        assertTrue(e.getMessage().contains("3 labels arrays") && e.getMessage().contains("[outA, outB]"), e.getMessage());
    }

    @Test
    void featuresForTooFewInputsFailOnTheDriver() {
        ComputationGraphConfiguration conf = GraphModels.twoInTwoOut();
        MultiDataSet ok = GraphModels.data("twoInTwoOut", 1, BATCH, 3).get(0);
        MultiDataSet one = new org.nd4j.linalg.dataset.MultiDataSet(new INDArray[] {ok.getFeatures(0)}, ok.getLabels());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PipelineTrainer.builder(conf)
                .stages(2).batchSize(BATCH).build().fitMultiDataSet(jsc.parallelize(List.of(one))));
        assertTrue(e.getMessage().contains("1 features arrays") && e.getMessage().contains("[a, b]"), e.getMessage());
    }

    @Test
    void settingsGraphsDoNotRunAreRefusedByName() {
        ComputationGraphConfiguration conf = GraphModels.residualCnn();
        IllegalArgumentException replicas = assertThrows(IllegalArgumentException.class,
                () -> PipelineTrainer.builder(conf).replicas(2).build());
        assertTrue(replicas.getMessage().contains("replicas (2)"), replicas.getMessage());
        IllegalArgumentException checkpoint = assertThrows(IllegalArgumentException.class,
                () -> PipelineTrainer.builder(conf).checkpoint(URI.create("file:///tmp/x"), 2).build());
        assertTrue(checkpoint.getMessage().contains("spark.mp.checkpoint.dir"), checkpoint.getMessage());
        IllegalArgumentException twoOut = assertThrows(IllegalArgumentException.class,
                () -> PipelineTrainer.builder(GraphModels.twoInTwoOut()).build().fit(jsc.emptyRDD()));
        assertTrue(twoOut.getMessage().contains("[a, b]"), twoOut.getMessage());
    }
}
