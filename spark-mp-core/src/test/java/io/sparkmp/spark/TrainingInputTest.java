package io.sparkmp.spark;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.ml.linalg.VectorUDT;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Data routing and row conversion on an in-process local[2] Spark. */
class TrainingInputTest {

    private static SparkSession spark;
    private static JavaSparkContext jsc;

    @BeforeAll
    static void start() {
        spark = SparkSession.builder().master("local[2]").appName("TrainingInputTest")
                .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2").getOrCreate();
        jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    private static List<DataSet> chunks() {
        List<DataSet> out = new ArrayList<>();
        int next = 0;
        for (int size : new int[] {2, 1, 3, 1, 4, 2, 1}) { // 14 examples
            out.add(MiniBatchSpillTest.examples(next, size));
            next += size;
        }
        return out;
    }

    private static List<Double> firstFeatureOfEachExample(List<byte[]> partition) {
        List<Double> out = new ArrayList<>();
        for (byte[] b : partition) {
            DataSet ds = DataSetBytes.fromBytes(b);
            for (int i = 0; i < ds.numExamples(); i++) {
                out.add(ds.getFeatures().getDouble(i, 0));
            }
        }
        return out;
    }

    @Test
    void routeSendsEveryExampleToPartitionZeroInInputOrder() {
        JavaRDD<DataSet> input = jsc.parallelize(chunks(), 3);
        List<List<byte[]>> parts = TrainingInput.route(input, 4, false, 1, DataType.FLOAT).glom().collect();
        assertEquals(4, parts.size());
        for (int p = 1; p < 4; p++) {
            assertTrue(parts.get(p).isEmpty(), "partition " + p + " must be empty");
        }
        List<Double> expected = new ArrayList<>();
        for (int i = 0; i < 14; i++) {
            expected.add((double) i);
        }
        assertEquals(expected, firstFeatureOfEachExample(parts.get(0)));
        for (byte[] chunk : parts.get(0)) { // in the model's type: 4 bytes a value across the shuffle, not 8
            DataSet ds = DataSetBytes.fromBytes(chunk);
            assertEquals(DataType.FLOAT, ds.getFeatures().dataType());
            assertEquals(DataType.FLOAT, ds.getLabels().dataType());
        }
    }

    @Test
    void shuffledRouteIsASeededPermutationOfSingleExamples() {
        JavaRDD<DataSet> input = jsc.parallelize(chunks(), 3);
        List<byte[]> a = TrainingInput.route(input, 2, true, 5, DataType.DOUBLE).glom().collect().get(0);
        List<byte[]> b = TrainingInput.route(input, 2, true, 5, DataType.DOUBLE).glom().collect().get(0);
        List<byte[]> c = TrainingInput.route(input, 2, true, 6, DataType.DOUBLE).glom().collect().get(0);
        assertEquals(14, a.size(), "shuffling splits chunks into single examples");
        List<Double> fa = firstFeatureOfEachExample(a);
        assertEquals(fa, firstFeatureOfEachExample(b));
        assertNotEquals(fa, firstFeatureOfEachExample(c));
        List<Double> sorted = new ArrayList<>(fa);
        sorted.sort(null);
        assertEquals(firstFeatureOfEachExample(TrainingInput.route(input, 2, false, 5, DataType.DOUBLE).glom().collect().get(0)), sorted);
    }

    @Test
    void replicasReadTheirShareOfEveryWholeMiniBatch() {
        // 14 examples, batches of 4 (3 whole ones, 2 left out), P = 2 devices x R = 2 replicas: device 0 of
        // replica 0 (partition 0) gets examples 0-1, 4-5, 8-9; of replica 1 (partition 2) 2-3, 6-7, 10-11.
        JavaRDD<DataSet> input = jsc.parallelize(chunks(), 3);
        TrainingInput.Routed r = TrainingInput.routeToReplicas(input, new io.sparkmp.runtime.Topology(2, 2), 4, false, 1,
                DataType.FLOAT);
        assertEquals(14, r.examples());
        List<List<byte[]>> parts = r.rows().glom().collect();
        assertEquals(4, parts.size());
        assertEquals(List.of(0.0, 1.0, 4.0, 5.0, 8.0, 9.0), firstFeatureOfEachExample(parts.get(0)));
        assertEquals(List.of(2.0, 3.0, 6.0, 7.0, 10.0, 11.0), firstFeatureOfEachExample(parts.get(2)));
        assertTrue(parts.get(1).isEmpty() && parts.get(3).isEmpty(), "only stage 0 of each replica reads data");
    }

    @Test
    void shuffledReplicaSharesFollowTheOneReplicaOrder() {
        // The order one replica trains, cut into the replicas' shares: the same global mini-batches.
        JavaRDD<DataSet> input = jsc.parallelize(chunks(), 3);
        List<Double> one = firstFeatureOfEachExample(TrainingInput.route(input, 1, true, 5, DataType.DOUBLE).glom()
                .collect().get(0));
        List<List<byte[]>> parts = TrainingInput.routeToReplicas(input, new io.sparkmp.runtime.Topology(1, 2), 6, true, 5,
                DataType.DOUBLE).rows().glom().collect();
        assertEquals(List.of(one.get(0), one.get(1), one.get(2), one.get(6), one.get(7), one.get(8)),
                firstFeatureOfEachExample(parts.get(0)));
        assertEquals(List.of(one.get(3), one.get(4), one.get(5), one.get(9), one.get(10), one.get(11)),
                firstFeatureOfEachExample(parts.get(1)));
    }

    private static Dataset<Row> vectorRows() {
        StructType schema = new StructType().add("x", new VectorUDT()).add("y", DataTypes.IntegerType)
                .add("t", DataTypes.DoubleType);
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < 7; i++) {
            rows.add(RowFactory.create(Vectors.dense(i, 10 + i, 20 + i), i % 3, i * 0.5));
        }
        return spark.createDataFrame(rows, schema).repartition(1);
    }

    @Test
    void rowsBecomeOneHotClassificationChunksInOrder() {
        Dataset<Row> df = vectorRows();
        TrainingInput.checkRows(df, "x", "y", 3);
        List<DataSet> chunks = TrainingInput.fromRows(df, "x", "y", 3, 3, 4).collect();
        assertEquals(2, chunks.size());
        assertEquals(4, chunks.get(0).numExamples());
        assertEquals(3, chunks.get(1).numExamples());
        assertArrayEquals(new double[] {5, 15, 25}, chunks.get(1).getFeatures().getRow(1).toDoubleVector());
        assertArrayEquals(new double[] {0, 0, 1}, chunks.get(1).getLabels().getRow(1).toDoubleVector()); // row 5: class 2
    }

    @Test
    void numericArrayFeaturesAndRegressionTarget() {
        StructType schema = new StructType().add("f", DataTypes.createArrayType(DataTypes.FloatType)).add("t", DataTypes.DoubleType);
        List<Row> rows = List.of(RowFactory.create(new float[] {1f, 2f}, 0.25), RowFactory.create(new float[] {3f, 4f}, -1.5));
        Dataset<Row> df = spark.createDataFrame(rows, schema).repartition(1);
        TrainingInput.checkRows(df, "f", "t", 0);
        DataSet ds = TrainingInput.fromRows(df, "f", "t", 0, 2, 256).collect().get(0);
        assertArrayEquals(new double[][] {{1, 2}, {3, 4}}, ds.getFeatures().toDoubleMatrix());
        assertArrayEquals(new double[][] {{0.25}, {-1.5}}, ds.getLabels().toDoubleMatrix());
    }

    @Test
    void badLabelsAndColumnsAreReportedOnTheDriver() {
        Dataset<Row> df = vectorRows();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TrainingInput.checkRows(df, "x", "y", 2));
        assertEquals("label `2.0` in column `y` is not a class index in [0, 2)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> TrainingInput.checkRows(df, "x", "t", 3));
        assertEquals("label `0.5` in column `t` is not a class index in [0, 3)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> TrainingInput.checkRows(df, "features", "y", 3));
        assertTrue(e.getMessage().startsWith("features column `features` not found; columns: [x, y, t]"), e.getMessage());
    }

    @Test
    void featureWidthIsCheckedAgainstTheModelInput() {
        Exception e = assertThrows(Exception.class, () -> TrainingInput.fromRows(vectorRows(), "x", "y", 3, 4, 256).collect());
        Throwable root = e;
        while (root.getCause() != null) {
            root = root.getCause();
        }
        assertTrue(root.getMessage().contains("has 3 values") && root.getMessage().contains("model input expects 4"),
                root.getMessage());
    }
}
