package io.sparkmp.spark;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;

/**
 * A {@code Dataset<Row>} as a graph's training data: one features column per graph input and one label column per
 * output, in the graph's order, each label a class index (one-hot over its K classes) or, with K = 0, a numeric
 * regression target. Rows become MultiDataSets of up to {@code chunk} examples; a features row is flat, shaped
 * {@code [n, nIn, T]} for a recurrent input type and {@code [n, c, h, w]} for a convolutional one.
 *
 * @param features the features column of each graph input, in {@code getNetworkInputs()} order
 * @param labels the label column of each output, in {@code getNetworkOutputs()} order
 * @param classes per label column its K (0: regression)
 */
record GraphRows(String[] features, String[] labels, int[] classes) implements java.io.Serializable {

    GraphRows {
        features = features.clone();
        labels = labels.clone();
        classes = classes.clone();
    }

    /**
     * The columns against the graph (driver side, when the trainer is built).
     *
     * @throws IllegalArgumentException when the column counts differ from the graph's inputs or outputs, or a K is
     *     negative, naming both
     */
    void checkAgainst(ComputationGraphConfiguration conf) {
        List<String> in = conf.getNetworkInputs();
        List<String> out = conf.getNetworkOutputs();
        if (features.length != in.size()) {
            throw new IllegalArgumentException("featureColumns " + Arrays.toString(features) + " name " + features.length
                    + " columns, the graph has " + in.size() + " inputs " + in + ": one features column per input");
        }
        if (labels.length != out.size()) {
            throw new IllegalArgumentException("labelColumns " + Arrays.toString(labels) + " name " + labels.length
                    + " columns, the graph has " + out.size() + " outputs " + out + ": one label column per output");
        }
        if (classes.length != labels.length) {
            throw new IllegalArgumentException("labelClasses " + Arrays.toString(classes) + " gives " + classes.length
                    + " class counts for the " + labels.length + " label columns " + Arrays.toString(labels));
        }
        for (int i = 0; i < classes.length; i++) {
            if (classes[i] < 0) {
                throw new IllegalArgumentException("labelClasses of column `" + labels[i] + "` must be >= 0 (0: "
                        + "regression), found " + classes[i]);
            }
        }
    }

    /** Every column exists with a usable type, every class label is in range (driver side, before training). */
    void checkRows(Dataset<Row> df) {
        for (String f : features) {
            TrainingInput.checkFeatures(df, f);
        }
        for (int i = 0; i < labels.length; i++) {
            TrainingInput.checkLabels(df, labels[i], classes[i]);
        }
    }

    /** The rows as MultiDataSets of up to {@code chunk} examples (shaped by {@code inputTypesOrNull}, else flat). */
    JavaRDD<MultiDataSet> toMultiDataSets(Dataset<Row> df, InputType[] inputTypesOrNull, int chunk) {
        int[] fi = new int[features.length];
        int[] li = new int[labels.length];
        for (int i = 0; i < fi.length; i++) {
            fi[i] = df.schema().fieldIndex(features[i]);
        }
        for (int i = 0; i < li.length; i++) {
            li[i] = df.schema().fieldIndex(labels[i]);
        }
        String[] fcols = features;
        String[] lcols = labels;
        int[] ks = classes;
        InputType[] types = inputTypesOrNull == null ? null : inputTypesOrNull.clone();
        return df.javaRDD().mapPartitions(rows -> new Iterator<MultiDataSet>() {
            @Override
            public boolean hasNext() {
                return rows.hasNext();
            }

            @Override
            public MultiDataSet next() {
                List<double[][]> rowsX = new ArrayList<>(chunk);
                List<double[][]> rowsY = new ArrayList<>(chunk);
                while (rows.hasNext() && rowsX.size() < chunk) {
                    Row r = rows.next();
                    double[][] x = new double[fi.length][];
                    for (int i = 0; i < fi.length; i++) {
                        x[i] = TrainingInput.values(r, fi[i], fcols[i]);
                        if (!rowsX.isEmpty() && x[i].length != rowsX.get(0)[i].length) {
                            throw new IllegalArgumentException("features column `" + fcols[i] + "` has " + x[i].length
                                    + " values in row " + r + " but " + rowsX.get(0)[i].length
                                    + " in an earlier row of the same chunk");
                        }
                    }
                    double[][] y = new double[li.length][];
                    for (int i = 0; i < li.length; i++) {
                        y[i] = TrainingInput.label(r, li[i], lcols[i], ks[i]);
                    }
                    rowsX.add(x);
                    rowsY.add(y);
                }
                INDArray[] f = new INDArray[fi.length];
                for (int i = 0; i < f.length; i++) {
                    f[i] = shaped(column(rowsX, i), types == null ? null : types[i], fcols[i]);
                }
                INDArray[] l = new INDArray[li.length];
                for (int i = 0; i < l.length; i++) {
                    l[i] = column(rowsY, i);
                }
                return new org.nd4j.linalg.dataset.MultiDataSet(f, l);
            }
        });
    }

    private static INDArray column(List<double[][]> rows, int i) {
        double[][] m = new double[rows.size()][];
        for (int r = 0; r < m.length; r++) {
            m[r] = rows.get(r)[i];
        }
        return Nd4j.create(m);
    }

    /** A flat [n, width] block in the shape of its input type (recurrent, convolutional), or as it is. */
    static INDArray shaped(INDArray flat, InputType type, String col) {
        long n = flat.size(0);
        long width = flat.size(1);
        if (type instanceof InputType.InputTypeRecurrent rt && rt.getTimeSeriesLength() > 0) {
            requireWidth(width, rt.getSize() * rt.getTimeSeriesLength(), col, type);
            return flat.reshape('c', n, rt.getSize(), rt.getTimeSeriesLength());
        }
        if (type instanceof InputType.InputTypeConvolutional ct) {
            requireWidth(width, ct.getChannels() * ct.getHeight() * ct.getWidth(), col, type);
            return flat.reshape('c', n, ct.getChannels(), ct.getHeight(), ct.getWidth());
        }
        return flat;
    }

    private static void requireWidth(long width, long expected, String col, InputType type) {
        if (width != expected) {
            throw new IllegalArgumentException("features column `" + col + "` has " + width + " values per row, its "
                    + "input type " + type + " needs " + expected);
        }
    }
}
