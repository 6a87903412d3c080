package io.sparkmp.transport;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Shared fixtures of the ring all-reduce tests: inputs with widely spread magnitudes (so that the order of
 * a float sum shows in its bits), the documented fixed-order sum computed here element by element in the
 * array's own precision, and a runner that reduces on every member at once.
 */
public final class RingSums {
    private RingSums() {
    }

    /** A ring order that is not the identity, so ring positions differ from ranks. */
    public static int[] permutedRing(int members) {
        return switch (members) {
            case 1 -> new int[] {0};
            case 2 -> new int[] {1, 0};
            case 3 -> new int[] {0, 2, 1};
            case 4 -> new int[] {2, 0, 3, 1};
            default -> throw new IllegalArgumentException("no ring fixture for " + members + " members");
        };
    }

    /** One input vector per ring position; values ~N(0, 1) times 10^-3 .. 10^3. */
    public static INDArray[] inputs(int members, int length, DataType type, long seed) {
        Random rnd = new Random(seed);
        INDArray[] out = new INDArray[members];
        for (int q = 0; q < members; q++) {
            double[] d = new double[length];
            for (int i = 0; i < length; i++) {
                d[i] = rnd.nextGaussian() * Math.pow(10, rnd.nextInt(7) - 3);
            }
            out[q] = type == DataType.FLOAT ? Nd4j.createFromArray(toFloat(d)) : Nd4j.createFromArray(d);
        }
        return out;
    }

    /**
     * The documented result: element e of chunk c (c·n/R &lt;= e &lt; (c+1)·n/R) is
     * ((x[c+1] + x[c+2]) + ...) + x[c], positions mod R, in float arithmetic for FLOAT inputs.
     */
    public static double[] fixedOrderSum(INDArray[] byPosition) {
        int r = byPosition.length;
        int n = (int) byPosition[0].length();
        double[] out = new double[n];
        for (int e = 0; e < n; e++) {
            int c = 0;
            while ((long) (c + 1) * n / r <= e) {
                c++;
            }
            int[] order = new int[r];
            for (int j = 0; j < r; j++) {
                order[j] = (c + 1 + j) % r;
            }
            out[e] = sumInOrder(byPosition, e, order);
        }
        return out;
    }

    /** Positions 0, 1, ..., R-1 in that order: what a naive loop would give. */
    public static double[] positionOrderSum(INDArray[] byPosition) {
        int r = byPosition.length;
        int[] order = new int[r];
        for (int j = 0; j < r; j++) {
            order[j] = j;
        }
        double[] out = new double[(int) byPosition[0].length()];
        for (int e = 0; e < out.length; e++) {
            out[e] = sumInOrder(byPosition, e, order);
        }
        return out;
    }

    private static double sumInOrder(INDArray[] x, int e, int[] order) {
        if (x[0].dataType() == DataType.FLOAT) {
            float acc = x[order[0]].getFloat(e);
            for (int j = 1; j < order.length; j++) {
                acc += x[order[j]].getFloat(e);
            }
            return acc;
        }
        double acc = x[order[0]].getDouble(e);
        for (int j = 1; j < order.length; j++) {
            acc += x[order[j]].getDouble(e);
        }
        return acc;
    }

    /**
     * Every member (position q on {@code channels.get(ring[q])}) reduces a copy of {@code byPosition[q]} at once;
     * returns the reduced vectors by position.
     */
    public static INDArray[] reduceOnAll(List<? extends TensorChannel> channels, int[] ring, INDArray[] byPosition,
                                         long pieceBytes, long step, int tag) throws Exception {
        int r = ring.length;
        ExecutorService pool = Executors.newFixedThreadPool(r);
        try {
            List<Future<INDArray>> fs = new ArrayList<>();
            for (int q = 0; q < r; q++) {
                TensorChannel ch = channels.get(ring[q]);
                INDArray mine = byPosition[q].dup();
                fs.add(pool.submit(() -> {
                    new RingAllReduce(ch, ring, 10_000, pieceBytes).sumInPlace(mine, step, tag);
                    return mine;
                }));
            }
            INDArray[] out = new INDArray[r];
            for (int q = 0; q < r; q++) {
                out[q] = fs.get(q).get(60, TimeUnit.SECONDS);
            }
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    /** Bit-for-bit equality of {@code actual} with {@code expected} in the array's precision. */
    public static void assertBits(double[] expected, INDArray actual, String what) {
        assertEquals(expected.length, actual.length(), what + ": length");
        for (int i = 0; i < expected.length; i++) {
            if (actual.dataType() == DataType.FLOAT) {
                assertEquals(Float.floatToRawIntBits((float) expected[i]), Float.floatToRawIntBits(actual.getFloat(i)),
                        what + ": element " + i + " expected " + (float) expected[i] + " got " + actual.getFloat(i));
            } else {
                assertEquals(Double.doubleToRawLongBits(expected[i]), Double.doubleToRawLongBits(actual.getDouble(i)),
                        what + ": element " + i + " expected " + expected[i] + " got " + actual.getDouble(i));
            }
        }
    }

    private static float[] toFloat(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            f[i] = (float) d[i];
        }
        return f;
    }
}
