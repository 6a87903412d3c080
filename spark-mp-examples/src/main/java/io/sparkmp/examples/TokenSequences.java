package io.sparkmp.examples;

import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;

/**
 * Generated token sequences for a sequence classifier: tokens {@code 0..CLASSES-1} are the class tokens, the others
 * filler. Each sequence of {@code length} tokens holds its class's token 3 to 5 times, one other class token once or
 * twice, and random filler tokens elsewhere, at random positions; the label is the class token that occurs most
 * often. Example {@code i} comes from a {@link Random} seeded by a mix of (seed, i) alone, so any chunking gives the
 * same examples and indices past the training range are fresh ones.
 */
final class TokenSequences {
    static final int CLASSES = 4;

    private TokenSequences() {
    }

    /** Examples {@code [first, first + count)}: token indices {@code [count, length]}, one-hot labels. */
    static DataSet examples(long first, int count, int length, int vocabulary, long seed) {
        if (vocabulary <= CLASSES || length < 8) {
            throw new IllegalArgumentException("vocabulary must exceed " + CLASSES + " and length be at least 8, found "
                    + vocabulary + " and " + length);
        }
        float[][] x = new float[count][length];
        float[][] y = new float[count][CLASSES];
        for (int n = 0; n < count; n++) {
            Random r = new Random(ShapeImages.mix(seed, first + n));
            int label = r.nextInt(CLASSES);
            int other = (label + 1 + r.nextInt(CLASSES - 1)) % CLASSES;
            for (int t = 0; t < length; t++) {
                x[n][t] = CLASSES + r.nextInt(vocabulary - CLASSES);
            }
            int[] slots = shuffledPositions(length, r);
            int k = 0;
            for (int i = 3 + r.nextInt(3); i > 0; i--) {
                x[n][slots[k++]] = label;
            }
            for (int i = 1 + r.nextInt(2); i > 0; i--) {
                x[n][slots[k++]] = other;
            }
            y[n][label] = 1f;
        }
        return new DataSet(Nd4j.createFromArray(x), Nd4j.createFromArray(y));
    }

    private static int[] shuffledPositions(int length, Random r) {
        int[] p = new int[length];
        for (int i = 0; i < length; i++) {
            p[i] = i;
        }
        for (int i = length - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }
}
