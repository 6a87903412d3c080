package io.sparkmp.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.URI;
import java.nio.file.Files;
import java.util.List;
import java.util.stream.Stream;

import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

class LayerFilesTest {

    @TempDir
    java.nio.file.Path tmp;

    private URI dirUri() {
        return tmp.toUri();
    }

    /** Views at nonzero offsets: an interval of a vector, a view of a view, a [1, n] row, a C-order block. */
    private static List<INDArray> sourceViews(DataType type) {
        INDArray base = Nd4j.linspace(DataType.DOUBLE, -3.0, 3.0, 200).castTo(type);
        INDArray interval = base.get(NDArrayIndex.interval(7, 40));
        INDArray viewOfView = base.get(NDArrayIndex.interval(50, 150)).get(NDArrayIndex.interval(13, 77));
        INDArray row = Nd4j.linspace(DataType.DOUBLE, 1, 60, 60).castTo(type).reshape('c', 6, 10)
                .get(NDArrayIndex.interval(2, 3), NDArrayIndex.all());
        INDArray block = Nd4j.linspace(DataType.DOUBLE, 0.5, 30.5, 60).castTo(type).reshape('c', 6, 10)
                .get(NDArrayIndex.interval(1, 4), NDArrayIndex.all());
        return List.of(interval, viewOfView, row, block);
    }

    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"DOUBLE", "FLOAT", "HALF", "BFLOAT16"})
    void roundTripOfViewsAtOffsetsIsExact(DataType type) throws IOException {
        List<INDArray> src = sourceViews(type);
        assertTrue(src.get(0).offset() > 0 && src.get(1).offset() > 0, "the test must use offset views");
        List<INDArray> params = src.subList(0, 2);
        List<INDArray> state = src.subList(2, 4);
        FileSystem fs = StoreFixtures.fs(dirUri());
        LayerEntry e = LayerFiles.write(fs, new Path(dirUri()), "layer-00003-job.bin", 3, params, state);

        assertEquals(new LayerEntry(3, "layer-00003-job.bin", type.name(), 33 + 64, 10 + 30,
                32 + (97 + 40) * Nd4j.sizeOfDataType(type), e.checksum()), e);
        assertEquals(e.bytes(), Files.size(tmp.resolve("layer-00003-job.bin")));
        try (Stream<java.nio.file.Path> files = Files.list(tmp)) {
            assertEquals(List.of("layer-00003-job.bin"),
                    files.map(p -> p.getFileName().toString()).filter(n -> !n.endsWith(".crc")).toList(),
                    "the temporary file was renamed");
        }

        // Read into views at offsets of larger arrays of another shape, which must stay untouched elsewhere.
        INDArray pDest = Nd4j.valueArrayOf(new long[] {120}, 9.0, type);
        INDArray sDest = Nd4j.valueArrayOf(new long[] {4, 20}, 9.0, type);
        List<INDArray> pViews = List.of(pDest.get(NDArrayIndex.interval(5, 38)), pDest.get(NDArrayIndex.interval(40, 104)));
        List<INDArray> sViews = List.of(sDest.get(NDArrayIndex.interval(0, 1), NDArrayIndex.interval(0, 10)),
                sDest.get(NDArrayIndex.interval(2, 3), NDArrayIndex.all()).reshape(20).get(NDArrayIndex.interval(0, 20)),
                sDest.get(NDArrayIndex.interval(3, 4), NDArrayIndex.interval(0, 10)));
        LayerFiles.readInto(fs, new Path(dirUri()), e, pViews, sViews);
        StoreFixtures.assertSameValues(Nd4j.concat(0, src.get(0).dup(), src.get(1).dup()),
                Nd4j.concat(0, pViews.get(0).dup(), pViews.get(1).dup()), "parameters");
        StoreFixtures.assertSameValues(Nd4j.concat(0, src.get(2).dup().reshape(10), src.get(3).dup().reshape(30)),
                Nd4j.concat(0, sViews.get(0).dup().reshape(10), sViews.get(1).dup(), sViews.get(2).dup().reshape(10)),
                "updater state");
        assertEquals(9.0, pDest.getDouble(4));
        assertEquals(9.0, pDest.getDouble(38));
        assertEquals(9.0, pDest.getDouble(104));
        assertEquals(9.0, sDest.getDouble(0, 15));
        assertEquals(9.0, sDest.getDouble(1, 0));

        INDArray[] fresh = LayerFiles.read(fs, new Path(dirUri()), e);
        assertEquals(1, fresh[0].rank());
        StoreFixtures.assertSameValues(Nd4j.concat(0, src.get(0).dup(), src.get(1).dup()), fresh[0], "fresh parameters");
        assertEquals(40, fresh[1].length());
    }

    @Test
    void nonContiguousViewsRoundTrip() throws IOException {
        INDArray m = Nd4j.linspace(DataType.FLOAT, 1, 48, 48).reshape('c', 6, 8);
        INDArray column = m.get(NDArrayIndex.all(), NDArrayIndex.point(3));
        INDArray fOrder = Nd4j.linspace(DataType.FLOAT, 1, 12, 12).reshape('f', 3, 4);
        assertTrue(!LayerFormat.isCContiguous(column) && !LayerFormat.isCContiguous(fOrder));
        FileSystem fs = StoreFixtures.fs(dirUri());
        LayerEntry e = LayerFiles.write(fs, new Path(dirUri()), "layer-00000-x.bin", 0, List.of(column, fOrder), List.of());

        INDArray dest = Nd4j.zeros(DataType.FLOAT, 8, 6);
        INDArray destColumn = dest.get(NDArrayIndex.interval(0, 6), NDArrayIndex.point(1));
        INDArray destF = Nd4j.create(DataType.FLOAT, new long[] {3, 4}, 'f');
        LayerFiles.readInto(fs, new Path(dirUri()), e, List.of(destColumn, destF), List.of());
        StoreFixtures.assertSameValues(column.dup(), destColumn.dup(), "strided column");
        StoreFixtures.assertSameValues(fOrder.dup('c'), destF.dup('c'), "f-order matrix, in C order");
        assertNull(LayerFiles.read(fs, new Path(dirUri()), e)[1]);
    }

    @Test
    void destinationsThatDoNotFitAreRefusedNamingTheFile() throws IOException {
        FileSystem fs = StoreFixtures.fs(dirUri());
        LayerEntry e = LayerFiles.write(fs, new Path(dirUri()), "layer-00001-a.bin", 1,
                List.of(Nd4j.ones(DataType.FLOAT, 10)), List.of(Nd4j.ones(DataType.FLOAT, 20)));
        IllegalArgumentException count = assertThrows(IllegalArgumentException.class, () -> LayerFiles.readInto(fs,
                new Path(dirUri()), e, List.of(Nd4j.ones(DataType.FLOAT, 9)), List.of(Nd4j.ones(DataType.FLOAT, 20))));
        assertTrue(count.getMessage().contains("layer-00001-a.bin") && count.getMessage().contains("10 parameters")
                && count.getMessage().contains("take 9 and 20"), count.getMessage());
        IllegalArgumentException type = assertThrows(IllegalArgumentException.class, () -> LayerFiles.readInto(fs,
                new Path(dirUri()), e, List.of(Nd4j.ones(DataType.DOUBLE, 10)), List.of(Nd4j.ones(DataType.DOUBLE, 20))));
        assertTrue(type.getMessage().contains("holds FLOAT values, the destinations are DOUBLE"), type.getMessage());
        IllegalArgumentException mixed = assertThrows(IllegalArgumentException.class, () -> LayerFiles.write(fs,
                new Path(dirUri()), "layer-00002-a.bin", 2, List.of(Nd4j.ones(DataType.FLOAT, 3)),
                List.of(Nd4j.ones(DataType.DOUBLE, 3))));
        assertTrue(mixed.getMessage().contains("found FLOAT and DOUBLE"), mixed.getMessage());
        IllegalArgumentException name = assertThrows(IllegalArgumentException.class, () -> LayerFiles.write(fs,
                new Path(dirUri()), "sub/layer.bin", 2, List.of(Nd4j.ones(DataType.FLOAT, 3)), List.of()));
        assertTrue(name.getMessage().contains("found sub/layer.bin"), name.getMessage());
    }

    @Test
    void truncatedAndCorruptedFilesAreDetectedNamingTheFile() throws IOException {
        FileSystem fs = StoreFixtures.fs(dirUri());
        Path dir = new Path(dirUri());
        INDArray p = Nd4j.linspace(DataType.DOUBLE, 1, 100, 100);
        LayerEntry e = LayerFiles.write(fs, dir, "layer-00004-t.bin", 4, List.of(p), List.of());
        java.nio.file.Path file = tmp.resolve("layer-00004-t.bin");
        byte[] good = Files.readAllBytes(file);

        // Same length, one flipped byte, with Hadoop's own .crc sidecar in place: its checksum catches it.
        byte[] bad = good.clone();
        bad[500] ^= 0x10;
        Files.write(file, bad);
        IOException sidecar = assertThrows(IOException.class, () -> LayerFiles.read(fs, dir, e));
        assertTrue(sidecar.getMessage().contains(file.toString()) && sidecar.getMessage().contains("checksum"),
                sidecar.getMessage());

        // Without the sidecar (e.g. a copy made by another tool), the layer file's own CRC32C catches it.
        Files.delete(tmp.resolve(".layer-00004-t.bin.crc"));
        IOException own = assertThrows(IOException.class, () -> LayerFiles.read(fs, dir, e));
        assertTrue(own.getMessage().contains(file.toString())
                && own.getMessage().contains("the manifest records " + e.checksum()), own.getMessage());

        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(good.length - 8);
        }
        IOException shortFile = assertThrows(IOException.class, () -> LayerFiles.read(fs, dir, e));
        assertEquals("layer file " + new Path(dir, "layer-00004-t.bin") + " is " + (good.length - 8)
                + " bytes, the manifest records " + good.length + " (truncated or replaced)", shortFile.getMessage());
    }

    @Test
    void aLargeLayerStreamsWithoutAHeapCopy() throws IOException {
        INDArray big = Nd4j.rand(DataType.FLOAT, 16L << 20); // 64 MiB
        INDArray params = big.get(NDArrayIndex.interval(1, big.length()));
        FileSystem fs = StoreFixtures.fs(dirUri());
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long tid = Thread.currentThread().getId();
        long before = mx.getThreadAllocatedBytes(tid);
        LayerEntry e = LayerFiles.write(fs, new Path(dirUri()), "layer-00009-big.bin", 9, List.of(params), List.of());
        long written = mx.getThreadAllocatedBytes(tid) - before;

        INDArray dest = Nd4j.create(DataType.FLOAT, big.length());
        INDArray destView = dest.get(NDArrayIndex.interval(0, big.length() - 1));
        before = mx.getThreadAllocatedBytes(tid);
        LayerFiles.readInto(fs, new Path(dirUri()), e, List.of(destView), List.of());
        long read = mx.getThreadAllocatedBytes(tid) - before;

        // One 1 MiB chunk buffer plus Hadoop's stream buffers; a heap copy of the layer would be 64 MiB.
        assertTrue(written < (8L << 20), "heap allocated while writing 64 MiB: " + written);
        assertTrue(read < (8L << 20), "heap allocated while reading 64 MiB: " + read);
        assertEquals(params.getFloat(0), destView.getFloat(0));
        assertEquals(params.getFloat(params.length() - 1), destView.getFloat(params.length() - 1));
        assertTrue(params.equals(destView));
    }
}
