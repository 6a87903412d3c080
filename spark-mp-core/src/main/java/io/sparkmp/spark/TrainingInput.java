package io.sparkmp.spark;

import io.sparkmp.model.ModelInput;

import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.ml.linalg.VectorUDT;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.NumericType;
import org.apache.spark.sql.types.StructField;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import scala.Tuple2;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;

/**
 * Routes training data to the barrier stage and converts {@code Dataset<Row>} input into DataSets.
 *
 * <p>Route (chosen over a side channel to rank 0): every example is keyed by its position and shuffled
 * into partition 0 of a P-partition RDD with {@code repartitionAndSortWithinPartitions}, which sorts with
 * Spark's external sorter (spills to disk, so the data need not fit in memory). Partitions 1..P-1 are
 * empty; the barrier stage runs over all P. Without shuffling the key is (input partition, position), so
 * stage 0 sees the input order; with shuffling it is a seeded hash of it, a seeded random order.
 */
final class TrainingInput {

    /** Rows per DataSet chunk when converting {@code Dataset<Row>} input without shuffling. */
    static final int ROW_CHUNK = 256;

    private TrainingInput() {
    }

    /**
     * The barrier stage's input: {@code stages} partitions; partition 0 holds every example as serialized
     * DataSet chunks, in input order (or a seeded random order when {@code shuffle}); the others are empty.
     * Features and labels cross the shuffle in {@code dataType}, the model's (masks as given).
     */
    static JavaRDD<byte[]> route(JavaRDD<DataSet> data, int stages, boolean shuffle, long seed,
                                 org.nd4j.linalg.api.buffer.DataType dataType) {
        return keyed(data, shuffle, shuffle, seed, dataType)
                .repartitionAndSortWithinPartitions(new StagePartitioner(stages)).values();
    }

    /**
     * The training rows of a job of R data-parallel replicas ({@link io.sparkmp.runtime.Topology}): P x R
     * partitions; the partition of device 0 of replica r holds examples [r B / R, (r + 1) B / R) of every whole
     * mini-batch of B examples, in order (the order R = 1 trains: input order, or the same seeded random order);
     * the examples of a last partial mini-batch are left out, the other partitions are empty. Examples are cut
     * apart (a chunk may span replicas), ordered and counted: two more passes over the input than with R = 1.
     */
    static Routed routeToReplicas(JavaRDD<DataSet> data, io.sparkmp.runtime.Topology topology, int batchSize,
                                  boolean shuffle, long seed, org.nd4j.linalg.api.buffer.DataType dataType) {
        JavaPairRDD<Long, byte[]> keyed = keyed(data, true, shuffle, seed, dataType);
        // Without shuffling the keys already follow the input order (partition, position): no sort needed.
        JavaRDD<byte[]> ordered = shuffle ? keyed.sortByKey().values() : keyed.values();
        long examples = ordered.count();
        long kept = examples / batchSize * batchSize;
        JavaPairRDD<Long, byte[]> indexed = ordered.zipWithIndex().filter(t -> t._2() < kept)
                .mapToPair(t -> new Tuple2<>(t._2(), t._1()));
        JavaRDD<byte[]> rows = indexed.repartitionAndSortWithinPartitions(new StagePartitioner(topology, batchSize))
                .values();
        return new Routed(rows, examples);
    }

    /**
     * Rows routed to the barrier stage.
     *
     * @param rows the barrier stage's input, one partition per rank
     * @param examples examples of the input (per epoch), or -1 when the readers count them (one replica)
     */
    record Routed(JavaRDD<byte[]> rows, long examples) {
    }

    /** Every example keyed by its input position (or a seeded hash of it); {@code split}: one example per value. */
    private static JavaPairRDD<Long, byte[]> keyed(JavaRDD<DataSet> data, boolean split, boolean shuffle, long seed,
                                                   org.nd4j.linalg.api.buffer.DataType dataType) {
        // Lazy per partition: a partition is streamed into the shuffle, never held whole in memory.
        return data.mapPartitionsWithIndex((part, it) -> new Iterator<Tuple2<Long, byte[]>>() {
            private Iterator<DataSet> pieces = java.util.Collections.emptyIterator();
            private long pos;

            @Override
            public boolean hasNext() {
                while (!pieces.hasNext() && it.hasNext()) {
                    DataSet ds = it.next();
                    if (ds == null || ds.getFeatures() == null) {
                        throw new IllegalArgumentException("training DataSet without features at input partition "
                                + part + ", position " + pos);
                    }
                    pieces = (split && ds.numExamples() > 1 ? ds.asList() : List.of(ds)).iterator();
                }
                return pieces.hasNext();
            }

            @Override
            public Tuple2<Long, byte[]> next() {
                if (!hasNext()) {
                    throw new java.util.NoSuchElementException();
                }
                long key = shuffle ? mix(seed, part, pos) : ((long) part << 40) | pos;
                pos++;
                return new Tuple2<>(key, DataSetBytes.toBytes(inType(pieces.next(), dataType)));
            }
        }, true).mapToPair(t -> t);
    }

    /** The DataSet with features and labels in {@code dataType}: the same object when they already are. */
    static DataSet inType(DataSet ds, org.nd4j.linalg.api.buffer.DataType dataType) {
        INDArray f = ds.getFeatures();
        INDArray l = ds.getLabels();
        if (f.dataType() == dataType && (l == null || l.dataType() == dataType)) {
            return ds;
        }
        return new DataSet(f.castTo(dataType), l == null ? null : l.castTo(dataType), ds.getFeaturesMaskArray(),
                ds.getLabelsMaskArray());
    }

    /** A seeded 64-bit mix of (seed, partition, position): SplitMix64's finaliser. */
    static long mix(long seed, int partition, long position) {
        long z = seed * 0x9E3779B97F4A7C15L + ((long) partition << 40) + position;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /**
     * Checks the columns of a {@code Dataset<Row>} on the driver: they exist and have usable types, and for
     * classification ({@code numClasses > 0}) every label is an integer in {@code [0, numClasses)} (one
     * aggregate pass), so bad input fails before any training starts.
     *
     * @throws IllegalArgumentException naming the column, type or offending label
     */
    static void checkRows(Dataset<Row> df, String featuresCol, String labelCol, int numClasses) {
        if (numClasses < 0) {
            throw new IllegalArgumentException("numClasses must be >= 0 (0: regression), found " + numClasses);
        }
        checkFeatures(df, featuresCol);
        checkLabels(df, labelCol, numClasses);
    }

    /** {@link #checkRows}' rule for one features column. */
    static void checkFeatures(Dataset<Row> df, String featuresCol) {
        DataType ft = columnType(df, featuresCol, "features");
        if (!(ft instanceof VectorUDT || ft instanceof NumericType
                || (ft instanceof ArrayType at && at.elementType() instanceof NumericType))) {
            throw new IllegalArgumentException("features column `" + featuresCol + "` must be an ML Vector, a numeric "
                    + "array or a number, found " + ft.simpleString());
        }
    }

    /** {@link #checkRows}' rule for one label column (one aggregate pass for classification labels). */
    static void checkLabels(Dataset<Row> df, String labelCol, int numClasses) {
        DataType lt = columnType(df, labelCol, "label");
        if (numClasses > 0) {
            if (!(lt instanceof NumericType)) {
                throw new IllegalArgumentException("label column `" + labelCol + "` must be numeric (a class index) "
                        + "when numClasses = " + numClasses + ", found " + lt.simpleString());
            }
            org.apache.spark.sql.Column l = functions.col(labelCol).cast("double");
            List<Row> bad = df.select(l.as("l"))
                    .filter(l.isNull().or(l.lt(0)).or(l.geq(numClasses)).or(l.notEqual(functions.floor(l))))
                    .limit(1).collectAsList();
            if (!bad.isEmpty()) {
                Object v = bad.get(0).isNullAt(0) ? null : bad.get(0).getDouble(0);
                throw new IllegalArgumentException("label `" + v + "` in column `" + labelCol + "` is not a class index "
                        + "in [0, " + numClasses + ")");
            }
        } else if (!(lt instanceof VectorUDT || lt instanceof NumericType
                || (lt instanceof ArrayType at && at.elementType() instanceof NumericType))) {
            throw new IllegalArgumentException("label column `" + labelCol + "` must be numeric, a numeric array or an "
                    + "ML Vector for regression (numClasses = 0), found " + lt.simpleString());
        }
    }

    private static DataType columnType(Dataset<Row> df, String col, String role) {
        for (StructField f : df.schema().fields()) {
            if (f.name().equals(col)) {
                return f.dataType();
            }
        }
        throw new IllegalArgumentException(role + " column `" + col + "` not found; columns: "
                + Arrays.toString(df.columns()));
    }

    /**
     * Converts rows to DataSets of up to {@code chunk} examples each, keeping the row order: features as
     * a [n, width] double matrix; labels one-hot of {@code numClasses} or, for 0, the numeric target(s).
     *
     * @param expectedWidth the model's input width, checked per row (-1: not checked)
     */
    static JavaRDD<DataSet> fromRows(Dataset<Row> df, String featuresCol, String labelCol, int numClasses,
                                     int expectedWidth, int chunk) {
        return fromRows(df, featuresCol, labelCol, numClasses, expectedWidth, null, chunk);
    }

    /**
     * As {@link #fromRows(Dataset, String, String, int, int, int)}, each row checked against and shaped for the
     * model's input ({@link ModelInput}: a recurrent input's row of {@code nIn * T} values becomes {@code [nIn, T]});
     * {@code input} null: rows as they are, unchecked.
     */
    static JavaRDD<DataSet> fromRows(Dataset<Row> df, String featuresCol, String labelCol, int numClasses,
                                     ModelInput input, int chunk) {
        return fromRows(df, featuresCol, labelCol, numClasses, -1, input, chunk);
    }

    private static JavaRDD<DataSet> fromRows(Dataset<Row> df, String featuresCol, String labelCol, int numClasses,
                                             int expectedWidth, ModelInput input, int chunk) {
        int fi = df.schema().fieldIndex(featuresCol);
        int li = df.schema().fieldIndex(labelCol);
        return df.javaRDD().mapPartitions(rows -> new Iterator<DataSet>() {
            @Override
            public boolean hasNext() {
                return rows.hasNext();
            }

            @Override
            public DataSet next() {
                List<double[]> xs = new ArrayList<>(chunk);
                List<double[]> ys = new ArrayList<>(chunk);
                while (rows.hasNext() && xs.size() < chunk) {
                    Row r = rows.next();
                    double[] x = values(r, fi, featuresCol);
                    if (expectedWidth >= 0 && x.length != expectedWidth) {
                        throw new IllegalArgumentException("features column `" + featuresCol + "` has " + x.length
                                + " values in row " + r + ", the model input expects " + expectedWidth);
                    }
                    String bad = input == null ? null : input.mismatch(x.length);
                    if (bad != null) {
                        throw new IllegalArgumentException("features column `" + featuresCol + "` has " + bad
                                + " (row " + r + ")");
                    }
                    if (!xs.isEmpty() && x.length != xs.get(0).length) {
                        throw new IllegalArgumentException("features column `" + featuresCol + "` has " + x.length
                                + " values in row " + r + " but " + xs.get(0).length + " in an earlier row of the same chunk");
                    }
                    xs.add(x);
                    ys.add(label(r, li, labelCol, numClasses));
                }
                INDArray features = Nd4j.create(xs.toArray(new double[0][]));
                if (input != null && input.perStep() > 0) {
                    long[] one = input.exampleShape(xs.get(0).length);
                    features = features.reshape('c', xs.size(), one[0], one[1]);
                }
                return new DataSet(features, Nd4j.create(ys.toArray(new double[0][])));
            }
        });
    }

    static double[] label(Row r, int li, String col, int numClasses) {
        if (numClasses == 0) {
            return values(r, li, col);
        }
        if (r.isNullAt(li)) {
            throw new IllegalArgumentException("null label in column `" + col + "`, row " + r);
        }
        double v = ((Number) r.get(li)).doubleValue();
        int k = (int) v;
        if (k != v || k < 0 || k >= numClasses) {
            throw new IllegalArgumentException("label `" + v + "` in column `" + col + "` is not a class index in [0, "
                    + numClasses + ")");
        }
        double[] oneHot = new double[numClasses];
        oneHot[k] = 1.0;
        return oneHot;
    }

    static double[] values(Row r, int i, String col) {
        if (r.isNullAt(i)) {
            throw new IllegalArgumentException("null in column `" + col + "`, row " + r);
        }
        Object v = r.get(i);
        if (v instanceof Vector vec) {
            return vec.toArray();
        }
        if (v instanceof Number n) {
            return new double[] {n.doubleValue()};
        }
        if (v instanceof scala.collection.Seq<?> seq) {
            double[] out = new double[seq.size()];
            scala.collection.Iterator<?> it = seq.iterator();
            for (int j = 0; j < out.length; j++) {
                Object e = it.next();
                if (e == null) {
                    throw new IllegalArgumentException("null element in column `" + col + "`, row " + r);
                }
                out[j] = ((Number) e).doubleValue();
            }
            return out;
        }
        throw new IllegalArgumentException("column `" + col + "` holds " + v.getClass().getName()
                + ", expected a number, numeric array or ML Vector");
    }
}
