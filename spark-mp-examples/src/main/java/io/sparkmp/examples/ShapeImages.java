package io.sparkmp.examples;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;

/**
 * Generated single-channel images of simple shapes, one shape per class: 0 a horizontal bar, 1 a vertical bar,
 * 2 a square outline, 3 a filled disc. Each shape has a random size (a third to two thirds of the side) and
 * position, drawn at a random brightness in [0.5, 1] over Gaussian noise ({@link #NOISE}).
 * Example {@code i} is made from a {@link Random} seeded by a mix of (seed, i) alone, so any chunking, on any executor,
 * gives the same examples, and indices past the training range are fresh images of the same kind.
 */
final class ShapeImages {
    static final int CLASSES = 4;
    static final String[] NAMES = {"horizontal bar", "vertical bar", "square", "disc"};
    /** Standard deviation of the pixel noise. */
    static final double NOISE = 0.2;

    private ShapeImages() {
    }

    /** Examples {@code [first, first + count)}: features {@code [count, 1, side, side]}, one-hot labels. */
    static DataSet examples(long first, int count, int side, long seed) {
        if (side < 8) {
            throw new IllegalArgumentException("side must be at least 8 pixels, found " + side);
        }
        float[][][][] x = new float[count][1][side][side];
        float[][] y = new float[count][CLASSES];
        for (int i = 0; i < count; i++) {
            Random r = new Random(mix(seed, first + i));
            int label = r.nextInt(CLASSES);
            y[i][label] = 1f;
            draw(x[i][0], label, r);
        }
        INDArray features = Nd4j.createFromArray(x).castTo(DataType.FLOAT);
        return new DataSet(features, Nd4j.createFromArray(y));
    }

    /**
     * SplitMix64's finaliser of (seed, index): java.util.Random seeded with consecutive numbers gives correlated
     * first draws (runs of one class), a mixed seed does not.
     */
    static long mix(long seed, long index) {
        long z = seed * 0x9E3779B97F4A7C15L + index;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    private static void draw(float[][] img, int shape, Random r) {
        int side = img.length;
        for (float[] row : img) {
            for (int c = 0; c < side; c++) {
                row[c] = (float) (NOISE * r.nextGaussian());
            }
        }
        int size = side / 3 + r.nextInt(side / 3 + 1);
        int top = r.nextInt(side - size + 1);
        int left = r.nextInt(side - size + 1);
        float ink = 0.5f + 0.5f * r.nextFloat();
        int last = size - 1;
        for (int i = 0; i < size; i++) {
            for (int j = 0; j < size; j++) {
                if (inShape(shape, i, j, last)) {
                    img[top + i][left + j] += ink;
                }
            }
        }
    }

    /** Whether pixel (i, j) of a {@code last + 1} square box belongs to the shape. */
    private static boolean inShape(int shape, int i, int j, int last) {
        return switch (shape) {
            case 0 -> i == last / 2;
            case 1 -> j == last / 2;
            case 2 -> i == 0 || j == 0 || i == last || j == last;
            case 3 -> {
                double c = last / 2.0;
                yield (i - c) * (i - c) + (j - c) * (j - c) <= (c + 0.3) * (c + 0.3);
            }
            default -> throw new IllegalArgumentException("shape " + shape);
        };
    }
}
