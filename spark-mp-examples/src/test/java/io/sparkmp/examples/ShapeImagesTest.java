package io.sparkmp.examples;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.dataset.DataSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The generated images: the same example whatever the chunking, and classes mixed in input order. */
class ShapeImagesTest {

    @Test
    void anExampleIsTheSameWhateverTheChunk() {
        DataSet chunk = ShapeImages.examples(0, 64, 12, 42);
        DataSet one = ShapeImages.examples(37, 1, 12, 42);
        assertEquals(one.getFeatures(), chunk.getFeatures().get(org.nd4j.linalg.indexing.NDArrayIndex.interval(37, 38)));
        assertEquals(one.getLabels(), chunk.getLabels().getRow(37, true));
        assertTrue(!ShapeImages.examples(37, 1, 12, 43).getFeatures().equals(one.getFeatures()), "the seed matters");
    }

    @Test
    void classesAreBalancedAndMixedInInputOrder() {
        int n = 512;
        int[] labels = ShapeImages.examples(0, n, 8, 42).getLabels().argMax(1).toIntVector();
        int[] count = new int[ShapeImages.CLASSES];
        int changes = 0;
        for (int i = 0; i < n; i++) {
            count[labels[i]]++;
            if (i > 0 && labels[i] != labels[i - 1]) {
                changes++;
            }
        }
        for (int c = 0; c < ShapeImages.CLASSES; c++) {
            assertTrue(count[c] > n / 8 && count[c] < 3 * n / 8, "class " + c + ": " + count[c] + " of " + n);
        }
        // independent labels change 3 times in 4; runs of one class (correlated seeds) would change far less often
        assertTrue(changes > 0.65 * (n - 1), changes + " changes in " + (n - 1));
    }

    @Test
    void tooSmallAnImageIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ShapeImages.examples(0, 1, 6, 42));
        assertEquals("side must be at least 8 pixels, found 6", e.getMessage());
    }
}
