package io.sparkmp.spark;

import io.sparkmp.runtime.MiniBatch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
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
import static org.junit.jupiter.api.Assertions.assertThrows;
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
                Iterator<MiniBatch> it = spill.epoch(epoch, false, 1);
                for (int b = 0; b < 5; b++) {
                    MiniBatch batch = it.next();
                    assertEquals(4, batch.examples());
                    assertFalse(batch.hasFeaturesMask());
                    assertFalse(batch.hasLabelsMask());
                    INDArray x = batch.features(0, 4);
                    INDArray y = batch.labels(0, 4);
                    assertEquals(DataType.FLOAT, x.dataType());
                    assertEquals(DataType.FLOAT, y.dataType());
                    DataSet expected = examples(4 * b, 4);
                    assertArrayEquals(expected.getFeatures().toDoubleMatrix(), x.toDoubleMatrix());
                    assertArrayEquals(expected.getLabels().toDoubleMatrix(), y.toDoubleMatrix());
                }
                assertFalse(it.hasNext());
            }
        }
    }

    @Test
    void readsEachMicroBatchsRowsAloneMasksIncluded(@TempDir Path dir) {
        // Recurrent rows [n, 2, 3] with per-time-step masks [n, 3], in chunks of 3 and 5.
        List<DataSet> chunks = List.of(recurrent(0, 3), recurrent(3, 5));
        List<byte[]> bytes = new ArrayList<>();
        chunks.forEach(c -> bytes.add(DataSetBytes.toBytes(c)));
        DataSet all = DataSet.merge(chunks);
        try (MiniBatchSpill spill = MiniBatchSpill.write(bytes.iterator(), dir, 8, DataType.FLOAT)) {
            MiniBatch batch = spill.epoch(0, false, 1).next();
            assertTrue(batch.hasFeaturesMask());
            assertTrue(batch.hasLabelsMask());
            for (int mb = 0; mb < 4; mb++) {
                INDArray x = batch.features(2 * mb, 2);
                assertArrayEquals(new long[] {2, 2, 3}, x.shape());
                assertEquals(DataType.FLOAT, x.dataType());
                assertEquals(MiniBatch.rows(all.getFeatures(), 2 * mb, 2).castTo(DataType.FLOAT), x);
                assertEquals(MiniBatch.rows(all.getLabels(), 2 * mb, 2).castTo(DataType.FLOAT), batch.labels(2 * mb, 2));
                assertEquals(MiniBatch.rows(all.getFeaturesMaskArray(), 2 * mb, 2), batch.featuresMask(2 * mb, 2));
                assertEquals(MiniBatch.rows(all.getLabelsMaskArray(), 2 * mb, 2), batch.labelsMask(2 * mb, 2));
            }
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> batch.features(7, 2));
            assertTrue(e.getMessage().contains("[7, 9) are outside the mini-batch of 8"), e.getMessage());
        }
    }

    @Test
    void aMicroBatchIsReadOffHeapWithoutTheMiniBatchOnTheHeap(@TempDir Path dir) {
        // One mini-batch of 64 examples x 64 Ki floats = 16 MiB; a micro-batch of 8 is 2 MiB.
        int width = 1 << 16;
        List<byte[]> chunks = new ArrayList<>();
        for (int c = 0; c < 4; c++) {
            chunks.add(DataSetBytes.toBytes(new DataSet(Nd4j.rand(DataType.FLOAT, 16, width),
                    Nd4j.rand(DataType.FLOAT, 16, 2))));
        }
        try (MiniBatchSpill spill = MiniBatchSpill.write(chunks.iterator(), dir, 64, DataType.FLOAT)) {
            MiniBatch batch = spill.epoch(0, false, 1).next();
            batch.features(0, 8); // warm-up: class loading, first allocations
            com.sun.management.ThreadMXBean mx =
                    (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
            long before = mx.getThreadAllocatedBytes(Thread.currentThread().getId());
            INDArray x = batch.features(8, 8);
            long heap = mx.getThreadAllocatedBytes(Thread.currentThread().getId()) - before;
            assertArrayEquals(new long[] {8, width}, x.shape());
            assertTrue(heap < (256 << 10), "reading a 2 MiB micro-batch allocated " + heap + " heap bytes");
            assertEquals(DataSetBytes.fromBytes(chunks.get(0)).getFeatures().getRow(8).getFloat(123), x.getFloat(0, 123));
        }
    }

    @Test
    void rowsOfAnotherShapeAreRefusedNamingBoth(@TempDir Path dir) {
        List<byte[]> chunks = List.of(DataSetBytes.toBytes(examples(0, 3)),
                DataSetBytes.toBytes(new DataSet(Nd4j.zeros(2, 3), Nd4j.zeros(2, 2))));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> MiniBatchSpill.write(chunks.iterator(), dir, 2, DataType.FLOAT));
        assertTrue(e.getMessage().contains("features at example 3 has shape [2, 3], the first examples' [n, 2]"),
                e.getMessage());
        assertEquals(0, dir.toFile().list().length, "no spill file is left behind");
    }

    /** Example i: features [[i, i+1, i+2], [-i, ...]], labels likewise, mask 1 up to time step i % 3. */
    private static DataSet recurrent(int from, int count) {
        INDArray x = Nd4j.create(DataType.DOUBLE, count, 2, 3);
        INDArray mask = Nd4j.zeros(DataType.DOUBLE, count, 3);
        for (int i = 0; i < count; i++) {
            int e = from + i;
            for (int t = 0; t < 3; t++) {
                x.putScalar(new long[] {i, 0, t}, e + t);
                x.putScalar(new long[] {i, 1, t}, -e - t);
                if (t <= e % 3) {
                    mask.putScalar(i, t, 1);
                }
            }
        }
        return new DataSet(x, x.mul(2), mask, mask.dup());
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
    void closeDeletesTheFiles(@TempDir Path dir) throws Exception {
        MiniBatchSpill spill = MiniBatchSpill.write(unevenChunks().iterator(), dir, 4, DataType.DOUBLE);
        assertEquals(2, spill.files().size()); // features and labels, no masks
        for (Path f : spill.files()) {
            assertTrue(Files.exists(f));
            assertTrue(f.startsWith(dir));
        }
        spill.close();
        for (Path f : spill.files()) {
            assertFalse(Files.exists(f));
        }
    }

    private static List<Double> firstFeatures(Iterator<MiniBatch> it) {
        List<Double> out = new ArrayList<>();
        it.forEachRemaining(b -> out.add(b.features(0, 1).getDouble(0, 0)));
        return out;
    }
}
