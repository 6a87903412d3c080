package io.sparkmp.spark;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MiniBatchSpillTest {

    /** Example i has features [i, -i] and label [i % 2 == 0, i % 2 == 1]. */
    static DataSet examples(int from, int count) {
        double[][] x = new double[count][];
        double[][] y = new double[count][];
        for (int i = 0; i < count; i++) {
            int e = from + i;
            x[i] = new double[] {e, -e};
            y[i] = new double[] {e % 2 == 0 ? 1 : 0, e % 2 == 1 ? 1 : 0};
        }
        return new DataSet(Nd4j.create(x), Nd4j.create(y));
    }

    static List<byte[]> unevenChunks() {
        List<byte[]> chunks = new ArrayList<>();
        int next = 0;
        for (int size : new int[] {3, 5, 1, 7, 2, 4}) { // 22 examples
            chunks.add(DataSetBytes.toBytes(examples(next, size)));
            next += size;
        }
        return chunks;
    }

    @Test
    void regroupsUnevenChunksIntoFullMiniBatchesInOrderAndDropsThePartialTail(@TempDir Path dir) {
        try (MiniBatchSpill spill = MiniBatchSpill.write(unevenChunks().iterator(), dir, 4, DataType.FLOAT)) {
            assertEquals(5, spill.batches());
            assertEquals(22, spill.examples());
            assertEquals(2, spill.droppedExamples());
            for (int epoch = 0; epoch < 2; epoch++) { // streamed again from disk each epoch
                Iterator<DataSet> it = spill.epoch(epoch, false, 1);
                for (int b = 0; b < 5; b++) {
                    DataSet batch = it.next();
                    assertEquals(DataType.FLOAT, batch.getFeatures().dataType());
                    assertEquals(DataType.FLOAT, batch.getLabels().dataType());
                    DataSet expected = examples(4 * b, 4);
                    assertArrayEquals(expected.getFeatures().toDoubleMatrix(), batch.getFeatures().toDoubleMatrix());
                    assertArrayEquals(expected.getLabels().toDoubleMatrix(), batch.getLabels().toDoubleMatrix());
                }
                assertFalse(it.hasNext());
            }
        }
    }

    @Test
    void shuffledEpochsArePermutationsSeededByEpoch(@TempDir Path dir) {
        try (MiniBatchSpill spill = MiniBatchSpill.write(unevenChunks().iterator(), dir, 2, DataType.DOUBLE)) {
            assertEquals(11, spill.batches());
            List<Double> e0 = firstFeatures(spill.epoch(0, true, 7));
            List<Double> e0again = firstFeatures(spill.epoch(0, true, 7));
            List<Double> e1 = firstFeatures(spill.epoch(1, true, 7));
            assertEquals(e0, e0again);
            assertNotEquals(e0, e1);
            List<Double> sorted = new ArrayList<>(e1);
            sorted.sort(null);
            assertEquals(firstFeatures(spill.epoch(0, false, 7)), sorted);
        }
    }

    @Test
    void closeDeletesTheFile(@TempDir Path dir) throws Exception {
        MiniBatchSpill spill = MiniBatchSpill.write(unevenChunks().iterator(), dir, 4, DataType.DOUBLE);
        assertTrue(Files.exists(spill.file()));
        assertTrue(spill.file().startsWith(dir));
        spill.close();
        assertFalse(Files.exists(spill.file()));
    }

    private static List<Double> firstFeatures(Iterator<DataSet> it) {
        List<Double> out = new ArrayList<>();
        it.forEachRemaining(ds -> out.add(ds.getFeatures().getDouble(0, 0)));
        return out;
    }
}
