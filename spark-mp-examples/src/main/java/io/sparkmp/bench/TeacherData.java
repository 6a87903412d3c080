package io.sparkmp.bench;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Synthetic, learnable classification data made in-process (no downloads): 784 features uniform in [0, 1),
 * labelled by the arg-max of a fixed random linear teacher over 10 classes. Pure Java random numbers, so the
 * driver and an executor JVM make bit-identical batches from the same seed.
 */
final class TeacherData {
    static final int FEATURES = 784;
    static final int CLASSES = 10;

    private final long seed;
    private final float[] teacher;

    TeacherData(long seed) {
        this.seed = seed;
        SplittableRandom r = new SplittableRandom(seed ^ 0x5DEECE66DL);
        teacher = new float[FEATURES * CLASSES];
        for (int i = 0; i < teacher.length; i++) {
            teacher[i] = (float) (r.nextDouble() * 2 - 1);
        }
    }

    /** Mini-batch {@code index} (0-based) of {@code size} examples, one-hot labels. */
    DataSet batch(int index, int size) {
        return make(new SplittableRandom(seed * 1_000_003L + index), size);
    }

    /** The held-out set every contender's loss is measured on, disjoint from every {@link #batch} stream. */
    DataSet evaluation(int size) {
        return make(new SplittableRandom(~seed), size);
    }

    /** Mini-batches {@code 0 .. steps - 1}. */
    List<DataSet> batches(int steps, int size) {
        List<DataSet> out = new ArrayList<>(steps);
        for (int s = 0; s < steps; s++) {
            out.add(batch(s, size));
        }
        return out;
    }

    private DataSet make(SplittableRandom r, int size) {
        float[] x = new float[size * FEATURES];
        float[] y = new float[size * CLASSES];
        double[] score = new double[CLASSES];
        for (int e = 0; e < size; e++) {
            java.util.Arrays.fill(score, 0);
            for (int f = 0; f < FEATURES; f++) {
                float v = (float) r.nextDouble();
                x[e * FEATURES + f] = v;
                for (int c = 0; c < CLASSES; c++) {
                    score[c] += (v - 0.5) * teacher[f * CLASSES + c];
                }
            }
            int best = 0;
            for (int c = 1; c < CLASSES; c++) {
                if (score[c] > score[best]) {
                    best = c;
                }
            }
            y[e * CLASSES + best] = 1f;
        }
        return new DataSet(Nd4j.create(x, new long[] {size, FEATURES}, DataType.FLOAT),
                Nd4j.create(y, new long[] {size, CLASSES}, DataType.FLOAT));
    }
}
