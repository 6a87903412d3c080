package io.sparkmp.spark;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

import io.sparkmp.runtime.MiniBatch;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

/**
 * Stage 0's training data on local disk, row by row in the model's data type: the first pass appends each
 * incoming chunk's features, labels and masks (cast, as raw bytes in native order) to one file per
 * array, so the incoming data is never regrouped in memory; mini-batch {@code b} is examples
 * {@code [b * batchSize, (b + 1) * batchSize)}. Every epoch then reads each micro-batch's rows straight from
 * the files into a fresh off-heap array ({@link MiniBatch#features} etc.): stage 0 never holds a whole
 * mini-batch, on the heap or off it.
 *
 * <p>A last partial mini-batch (fewer than {@code batchSize} examples) is not trained on and counted in
 * {@link #droppedExamples()}: every optimizer step then sees the same batch size, as the micro-batch split
 * requires. With shuffling, the mini-batch order of each epoch is a seeded permutation of (seed, epoch).
 *
 * <p>{@link #close()} deletes the files; not thread-safe.
 */
final class MiniBatchSpill implements RowSpill {

    /** The arrays of a DataSet, in file order. */
    private static final String[] PARTS = {"features", "labels", "features mask", "labels mask"};

    private final List<Path> files;
    private final Column[] columns;
    private final int batchSize;
    private final long examples;

    /** One spilled array: its file, element type and shape of one example (the shape without dimension 0). */
    private record Column(Path file, FileChannel channel, DataType type, long[] rowShape, long rowBytes) {
    }

    private MiniBatchSpill(List<Path> files, Column[] columns, int batchSize, long examples) {
        this.files = files;
        this.columns = columns;
        this.batchSize = batchSize;
        this.examples = examples;
    }

    /**
     * Appends the serialized DataSet chunks' rows to new files in {@code dir}, holding one chunk at a time.
     * Features and labels are cast to {@code dataType} (the network's); masks keep the first chunk's type.
     *
     * @throws IllegalArgumentException when a chunk's shape (past the examples dimension) or its masks differ
     *     from the first chunk's, naming both
     */
    static MiniBatchSpill write(Iterator<byte[]> chunks, Path dir, int batchSize, DataType dataType) {
        if (batchSize < 1) {
            throw new IllegalArgumentException("batchSize must be >= 1, found " + batchSize);
        }
        List<Path> files = new ArrayList<>();
        FileChannel[] out = new FileChannel[PARTS.length];
        Column[] columns = null;
        long examples = 0;
        boolean done = false;
        try {
            Files.createDirectories(dir);
            while (chunks.hasNext()) {
                DataSet ds = DataSetBytes.fromBytes(chunks.next());
                INDArray[] arrays = {ds.getFeatures(), ds.getLabels(), ds.getFeaturesMaskArray(), ds.getLabelsMaskArray()};
                if (columns == null) {
                    columns = new Column[PARTS.length];
                    for (int i = 0; i < PARTS.length; i++) {
                        if (arrays[i] != null) {
                            Path f = Files.createTempFile(dir, "spark-mp-minibatches-", ".bin");
                            files.add(f);
                            out[i] = FileChannel.open(f, StandardOpenOption.WRITE);
                            DataType t = i < 2 ? dataType : arrays[i].dataType();
                            long[] row = Arrays.copyOfRange(arrays[i].shape(), 1, arrays[i].rank());
                            columns[i] = new Column(f, null, t, row, rowLength(row) * t.width());
                        }
                    }
                    if (columns[1] == null) {
                        throw new IllegalArgumentException("training DataSet without labels at example " + examples);
                    }
                }
                for (int i = 0; i < PARTS.length; i++) {
                    Column c = columns[i];
                    if ((c == null) != (arrays[i] == null) || c != null && !Arrays.equals(c.rowShape(),
                            Arrays.copyOfRange(arrays[i].shape(), 1, arrays[i].rank()))) {
                        throw new IllegalArgumentException("the training data's " + PARTS[i] + " at example " + examples
                                + " has shape " + (arrays[i] == null ? "none" : Arrays.toString(arrays[i].shape()))
                                + ", the first examples' " + (c == null ? "none" : "[n, "
                                + Arrays.toString(c.rowShape()).substring(1)) + ": every example must have the same shape");
                    }
                    if (c != null) {
                        writeRaw(out[i], arrays[i].castTo(c.type()).dup('c'), c.file());
                    }
                }
                examples += ds.numExamples();
            }
            Column[] open = columns == null ? new Column[PARTS.length] : columns;
            for (int i = 0; i < PARTS.length; i++) {
                if (out[i] != null) {
                    out[i].close();
                    out[i] = null;
                    Column c = open[i];
                    open[i] = new Column(c.file(), FileChannel.open(c.file(), StandardOpenOption.READ), c.type(),
                            c.rowShape(), c.rowBytes());
                }
            }
            done = true;
            return new MiniBatchSpill(files, open, batchSize, examples);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the mini-batch spill files in " + dir, e);
        } finally {
            if (!done) {
                for (FileChannel ch : out) {
                    closeQuietly(ch);
                }
                if (columns != null) {
                    for (Column c : columns) {
                        closeQuietly(c == null ? null : c.channel());
                    }
                }
                files.forEach(MiniBatchSpill::deleteQuietly);
            }
        }
    }

    private static long rowLength(long[] rowShape) {
        long n = 1;
        for (long d : rowShape) {
            n *= d;
        }
        return n;
    }

    /** Writes a contiguous array's bytes from its off-heap buffer (no copy into the Java heap). */
    private static void writeRaw(FileChannel ch, INDArray a, Path file) throws IOException {
        ByteBuffer buf = a.data().asNio();
        buf.limit(Math.toIntExact(a.length() * a.dataType().width()));
        buf.position(0);
        while (buf.hasRemaining()) {
            ch.write(buf);
        }
    }

    /** Number of full mini-batches (optimizer steps per epoch). */
    @Override
    public int batches() {
        return Math.toIntExact(examples / batchSize);
    }

    /** Examples read in the first pass. */
    @Override
    public long examples() {
        return examples;
    }

    /** Examples of the last partial mini-batch, which is not trained on. */
    @Override
    public long droppedExamples() {
        return examples % batchSize;
    }

    /** The spill's files (one per array of the DataSets: features, labels, masks). */
    List<Path> files() {
        return List.copyOf(files);
    }

    /**
     * The mini-batches of one epoch, in file order or a seeded permutation when {@code shuffle}; each reads
     * its rows from the files only when asked, a micro-batch at a time.
     */
    @Override
    public Iterator<MiniBatch> epoch(int epoch, boolean shuffle, long seed) {
        int[] order = RowSpill.batchOrder(batches(), epoch, shuffle, seed);
        return new Iterator<>() {
            private int next;

            @Override
            public boolean hasNext() {
                return next < order.length;
            }

            @Override
            public MiniBatch next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                return new Spilled(order[next++]);
            }
        };
    }

    /** Mini-batch {@code b} of the files: examples [b * batchSize, (b + 1) * batchSize). */
    private final class Spilled implements MiniBatch {
        private final int batch;

        Spilled(int batch) {
            this.batch = batch;
        }

        @Override
        public int examples() {
            return batchSize;
        }

        @Override
        public boolean hasFeaturesMask() {
            return columns[2] != null;
        }

        @Override
        public boolean hasLabelsMask() {
            return columns[3] != null;
        }

        @Override
        public INDArray features(int from, int count) {
            return read(0, from, count);
        }

        @Override
        public INDArray labels(int from, int count) {
            return read(1, from, count);
        }

        @Override
        public INDArray featuresMask(int from, int count) {
            return read(2, from, count);
        }

        @Override
        public INDArray labelsMask(int from, int count) {
            return read(3, from, count);
        }

        /** Reads the rows into a fresh off-heap array, straight from the file (no Java-heap copy). */
        private INDArray read(int part, int from, int count) {
            Column c = columns[part];
            if (c == null) {
                throw new IllegalStateException("the training data has no " + PARTS[part]);
            }
            if (from < 0 || count < 1 || from + count > batchSize) {
                throw new IllegalArgumentException("examples [" + from + ", " + (from + count) + ") are outside the "
                        + "mini-batch of " + batchSize);
            }
            long[] shape = new long[c.rowShape().length + 1];
            shape[0] = count;
            System.arraycopy(c.rowShape(), 0, shape, 1, c.rowShape().length);
            INDArray a;
            try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
                a = Nd4j.createUninitialized(c.type(), shape, 'c');
            }
            ByteBuffer buf = a.data().asNio();
            buf.limit(Math.toIntExact(count * c.rowBytes()));
            buf.position(0);
            long pos = ((long) batch * batchSize + from) * c.rowBytes();
            try {
                while (buf.hasRemaining()) {
                    int n = c.channel().read(buf, pos);
                    if (n < 0) {
                        throw new IOException("unexpected end of file at " + pos);
                    }
                    pos += n;
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read the " + PARTS[part] + " of mini-batch " + batch
                        + " from " + c.file(), e);
            }
            return a;
        }
    }

    @Override
    public void close() {
        for (Column c : columns) {
            if (c != null) {
                closeQuietly(c.channel());
            }
        }
        files.forEach(MiniBatchSpill::deleteQuietly);
    }

    private static void closeQuietly(FileChannel ch) {
        if (ch != null) {
            try {
                ch.close();
            } catch (IOException ignored) {
                // read-only use or a write already failed; nothing to lose
            }
        }
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // a leftover temp file in Spark's local dir is removed with the application's dirs
        }
    }
}
