package io.sparkmp.ml;

import io.sparkmp.model.GraphModels;
import io.sparkmp.model.GraphSlicer;
import io.sparkmp.store.ModelStore;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Spark ML estimator on a ComputationGraph configuration (one input, one output), on an in-process local[2]
 * Spark: it trains as DL4J's {@code ComputationGraph.fit} on the same mini-batches, its model's per-partition
 * transform predicts as {@code ComputationGraph.output} of the trained graph, saves and loads as a graph, and bad
 * input (a graph of two inputs, a pipelined transform, a wrong features width) is named.
 */
class GraphEstimatorTest {

    private static SparkSession spark;

    @TempDir
    static Path dir;

    static final int BATCH = 8;
    static final int BATCHES = 4;
    static final int EPOCHS = 2;
    static final long SEED = 5;

    @BeforeAll
    static void start() {
        spark = MlFixtures.localSpark("GraphEstimatorTest");
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    static PipelineParallelEstimator estimator(ComputationGraphConfiguration conf) {
        return new PipelineParallelEstimator().setModelConfiguration(conf.toJson()).setNumClasses(3).setStages(2)
                .setMicroBatches(2).setBatchSize(BATCH).setEpochs(EPOCHS).setSeed(SEED).setShuffle(false);
    }

    @Test
    void graphFitsAsComputationGraphFitTransformsAsItsOutputAndRoundTrips() throws Exception {
        ComputationGraphConfiguration conf = MlFixtures.skipGraph();
        List<MultiDataSet> batches = MlFixtures.gaussianBatches(BATCHES, BATCH, 7);
        Dataset<Row> train = MlFixtures.rows(spark, batches);
        PipelineParallelModel model = estimator(conf).fit(train);

        // (a) the same parameters and updater state as DL4J's own fit on the same mini-batches
        ComputationGraph trained = ModelStore.open(model.store(), spark.sparkContext().hadoopConfiguration()).toGraph();
        GraphModels.Reference ref = GraphModels.referenceFit(conf, batches, EPOCHS, SEED);
        assertEquals(BATCHES * EPOCHS, trained.getIterationCount());
        double p = relativeError(trained.params(), ref.graph().params());
        assertTrue(p <= 1e-9, "relative parameter error " + p);
        double s = relativeError(trained.getUpdater().getStateViewArray(), ref.graph().getUpdater().getStateViewArray());
        assertTrue(s <= 1e-9, "relative updater-state error " + s);

        // the plan's facts: 2 stages over the vertices' topological order
        assertEquals(2, model.devices());
        int[] b = model.stageBoundaries();
        assertEquals(3, b.length);
        assertEquals(0, b[0]);
        assertEquals(GraphSlicer.order(conf).size(), b[2]);
        assertTrue(b[1] > 0 && b[1] < b[2], "an inner cut: " + java.util.Arrays.toString(b));
        assertFalse(model.transformsPipelined(), "auto transforms a graph per partition");

        // (b) per-partition transform (batches of 5 rows): ComputationGraph.output of the trained graph, row by row
        Dataset<Row> test = MlFixtures.rows(spark, MlFixtures.gaussianBatches(3, 10, 8)).repartition(3);
        List<Row> scored = model.copy(ParamMap.empty()).setTransformBatchSize(5).transform(test)
                .select("features", "prediction", "probability").collectAsList();
        assertEquals(30, scored.size());
        for (Row r : scored) {
            double[] x = ((Vector) r.get(0)).toArray();
            double[] want = trained.output(Nd4j.create(new double[][] {x}))[0].toDoubleVector();
            assertArrayEquals(want, ((Vector) r.get(2)).toArray(), 1e-12);
            assertEquals(Nd4j.createFromArray(want).argMax().getInt(0), r.getDouble(1), 0.0);
        }

        // (c) save and load: the saved split says it is a graph; the loaded model predicts the same
        String path = dir.resolve("graph-model").toString();
        model.write().overwrite().save(path);
        String saved = Files.readString(dir.resolve("graph-model/" + ModelPersistence.SPLIT_FILE));
        assertTrue(saved.contains("\"kind\" : \"computationGraph\""), saved);
        PipelineParallelModel loaded = PipelineParallelModel.load(path);
        assertEquals(model.uid(), loaded.uid());
        assertEquals(model.extractParamMap().toString(), loaded.extractParamMap().toString());
        assertArrayEquals(model.stageBoundaries(), loaded.stageBoundaries());
        assertEquals(2, loaded.devices());
        assertEquals(model.trained(), loaded.trained());
        List<Row> again = loaded.setTransformBatchSize(5).transform(test)
                .select("features", "prediction", "probability").collectAsList();
        assertEquals(scored.size(), again.size());
        for (int i = 0; i < scored.size(); i++) {
            assertEquals(scored.get(i).get(0), again.get(i).get(0), "row order " + i);
            assertEquals(scored.get(i).getDouble(1), again.get(i).getDouble(1), 0.0);
            assertArrayEquals(((Vector) scored.get(i).get(2)).toArray(), ((Vector) again.get(i).get(2)).toArray(), 0.0);
        }

        // (d) pipelined transform of a graph: refused before any job
        PipelineParallelModel pipelined = loaded.copy(ParamMap.empty()).setTransformMode("pipelined");
        IllegalArgumentException e = refusedWithoutAJob(() -> pipelined.transform(test));
        assertEquals("pipelined transform is not supported for ComputationGraph models yet; use transformMode local",
                e.getMessage());
    }

    @Test
    void badGraphsAndColumnsAreNamed() {
        StructType schema = new StructType().add("features", new org.apache.spark.ml.linalg.VectorUDT())
                .add("label", DataTypes.DoubleType);
        Dataset<Row> rows = spark.createDataFrame(List.of(RowFactory.create(Vectors.dense(1, 2, 3, 4), 0.0)), schema);

        // two inputs and two outputs: named before any job
        PipelineParallelEstimator two = estimator(GraphModels.twoInTwoOut());
        IllegalArgumentException e = refusedWithoutAJob(() -> two.fit(rows));
        assertTrue(e.getMessage().contains("2 inputs [a, b]") && e.getMessage().contains("2 outputs [outA, outB]"),
                e.getMessage());

        // an output layer that does not match numClasses: before any job
        e = refusedWithoutAJob(() -> estimator(MlFixtures.skipGraph()).setNumClasses(4).fit(rows));
        assertTrue(e.getMessage().contains("nOut 3") && e.getMessage().contains("numClasses is 4"), e.getMessage());

        // a features vector of 3 values where the graph's input takes 4: before training
        Dataset<Row> wrongSize = spark.createDataFrame(List.of(RowFactory.create(Vectors.dense(1, 2, 3), 0.0)), schema);
        e = assertThrows(IllegalArgumentException.class, () -> estimator(MlFixtures.skipGraph()).fit(wrongSize));
        assertTrue(e.getMessage().contains("size 3") && e.getMessage().contains("expects 4"), e.getMessage());

        // the Param takes either JSON and names what is wrong with anything else
        PipelineParallelEstimator est = new PipelineParallelEstimator();
        est.setModelConfiguration(MlFixtures.skipGraph().toJson());
        est.setModelConfiguration(MlFixtures.classifier().toJson());
        e = assertThrows(IllegalArgumentException.class, () -> est.setModelConfiguration("{\"vertices\": 5}"));
        assertTrue(e.getMessage().contains("ComputationGraphConfiguration") && e.getMessage().contains("cannot read"),
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> est.setModelConfiguration("{not json"));
        assertTrue(e.getMessage().contains("MultiLayerConfiguration"), e.getMessage());
    }

    @Test
    void graphInputWidthComesFromTheLayersTheInputFeeds() {
        assertEquals(4, new ModelConfig.Graph(MlFixtures.skipGraph()).inputWidth());
        ComputationGraphConfiguration flat = new org.deeplearning4j.nn.conf.NeuralNetConfiguration.Builder()
                .dataType(org.nd4j.linalg.api.buffer.DataType.DOUBLE).graphBuilder().addInputs("in")
                .setInputTypes(org.deeplearning4j.nn.conf.inputs.InputType.convolutionalFlat(6, 5, 2))
                .addLayer("conv", new org.deeplearning4j.nn.conf.layers.ConvolutionLayer.Builder(3, 3).nOut(3).build(),
                        "in")
                .addLayer("out", new org.deeplearning4j.nn.conf.layers.OutputLayer.Builder().nOut(3).build(), "conv")
                .setOutputs("out").build();
        assertEquals(60, new ModelConfig.Graph(flat).inputWidth(), "convolutionalFlat(6, 5, 2): 6 * 5 * 2 values");
        assertEquals(-1, new ModelConfig.Graph(GraphModels.twoInTwoOut()).inputWidth(), "two inputs: no one width");
        assertEquals(-1, new ModelConfig.Graph(GraphModels.residualCnn()).inputWidth(), "a 4d input: no flat width");
        assertTrue(ModelConfig.parse(MlFixtures.skipGraph().toJson()) instanceof ModelConfig.Graph);
        assertTrue(ModelConfig.parse(MlFixtures.classifier().toJson()) instanceof ModelConfig.Layers);
    }

    /** The IllegalArgumentException {@code call} throws, after checking it started no Spark job. */
    static IllegalArgumentException refusedWithoutAJob(Supplier<?> call) {
        String group = "refused-" + System.nanoTime();
        spark.sparkContext().setJobGroup(group, "must stay empty", false);
        try {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::get);
            assertEquals(0, spark.sparkContext().statusTracker().getJobIdsForGroup(group).length,
                    "a job ran before the error: " + e.getMessage());
            return e;
        } finally {
            spark.sparkContext().clearJobGroup();
        }
    }

    static double relativeError(INDArray actual, INDArray expected) {
        return actual.sub(expected).norm2Number().doubleValue() / expected.norm2Number().doubleValue();
    }
}
