package io.sparkmp.spark;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.io.BufferedOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Random;

/**
 * Stage 0's training data on local disk: the first pass regroups the incoming examples into mini-batches
 * of exactly {@code batchSize} examples and appends each to a file; every epoch then streams them back, so
 * multi-epoch training holds one mini-batch in memory, not the partition.
 *
 * <p>A last partial mini-batch (fewer than {@code batchSize} examples) is dropped and counted in
 * {@link #droppedExamples()}: every optimizer step then sees the same batch size, as the micro-batch split
 * requires. With shuffling, the mini-batch order of each epoch is a seeded permutation of (seed, epoch).
 *
 * <p>{@link #close()} deletes the file; not thread-safe.
 */
final class MiniBatchSpill implements AutoCloseable {

    private final Path file;
    private final long[] offsets;
    private final int[] lengths;
    private final long examples;
    private final long droppedExamples;

    private MiniBatchSpill(Path file, long[] offsets, int[] lengths, long examples, long droppedExamples) {
        this.file = file;
        this.offsets = offsets;
        this.lengths = lengths;
        this.examples = examples;
        this.droppedExamples = droppedExamples;
    }

    /**
     * Regroups the serialized DataSet chunks into mini-batches and writes them to a new file in {@code dir}.
     * Features and labels are cast to {@code dataType} (the network's).
     *
     * @throws IllegalArgumentException when a chunk's shape does not match the previous ones
     */
    static MiniBatchSpill write(Iterator<byte[]> chunks, Path dir, int batchSize, DataType dataType) {
        if (batchSize < 1) {
            throw new IllegalArgumentException("batchSize must be >= 1, found " + batchSize);
        }
        Path file;
        try {
            Files.createDirectories(dir);
            file = Files.createTempFile(dir, "spark-mp-minibatches-", ".bin");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the mini-batch spill file in " + dir, e);
        }
        List<Long> offsets = new ArrayList<>();
        List<Integer> lengths = new ArrayList<>();
        long examples = 0;
        List<DataSet> pending = new ArrayList<>();
        int pendingCount = 0;
        boolean done = false;
        try (OutputStream fileOut = Files.newOutputStream(file);
             DataOutputStream out = new DataOutputStream(new BufferedOutputStream(fileOut, 1 << 16))) {
            long offset = 0;
            while (chunks.hasNext()) {
                DataSet ds = DataSetBytes.fromBytes(chunks.next());
                examples += ds.numExamples();
                pending.add(ds);
                pendingCount += ds.numExamples();
                while (pendingCount >= batchSize) {
                    DataSet merged = pending.size() == 1 ? pending.get(0) : DataSet.merge(pending);
                    DataSet batch = pendingCount == batchSize ? merged : examples(merged, 0, batchSize);
                    pending.clear();
                    if (pendingCount > batchSize) {
                        pending.add(examples(merged, batchSize, pendingCount));
                    }
                    pendingCount -= batchSize;
                    byte[] bytes = DataSetBytes.toBytes(cast(batch, dataType));
                    out.write(bytes);
                    offsets.add(offset);
                    lengths.add(bytes.length);
                    offset += bytes.length;
                }
            }
            done = true;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the mini-batch spill file " + file, e);
        } finally {
            if (!done) {
                deleteQuietly(file);
            }
        }
        return new MiniBatchSpill(file, offsets.stream().mapToLong(Long::longValue).toArray(),
                lengths.stream().mapToInt(Integer::intValue).toArray(), examples, pendingCount);
    }

    /** Examples [from, to) as a fresh DataSet (DL4J's {@code DataSet.getRange} returns empty arrays for some views). */
    static DataSet examples(DataSet ds, int from, int to) {
        return new DataSet(rows(ds.getFeatures(), from, to), rows(ds.getLabels(), from, to),
                rows(ds.getFeaturesMaskArray(), from, to), rows(ds.getLabelsMaskArray(), from, to));
    }

    private static INDArray rows(INDArray a, int from, int to) {
        if (a == null) {
            return null;
        }
        INDArrayIndex[] idx = new INDArrayIndex[a.rank()];
        idx[0] = NDArrayIndex.interval(from, to);
        for (int i = 1; i < idx.length; i++) {
            idx[i] = NDArrayIndex.all();
        }
        return a.get(idx).dup('c');
    }

    private static DataSet cast(DataSet ds, DataType dataType) {
        INDArray f = ds.getFeatures();
        INDArray l = ds.getLabels();
        // Fresh, contiguous copies: ND4J's writer mis-serialises row-range views of views.
        return new DataSet(f.castTo(dataType).dup('c'), l == null ? null : l.castTo(dataType).dup('c'),
                dupOrNull(ds.getFeaturesMaskArray()), dupOrNull(ds.getLabelsMaskArray()));
    }

    private static INDArray dupOrNull(INDArray a) {
        return a == null ? null : a.dup('c');
    }

    /** Number of full mini-batches (optimizer steps per epoch). */
    int batches() {
        return offsets.length;
    }

    /** Examples read in the first pass. */
    long examples() {
        return examples;
    }

    /** Examples of the last partial mini-batch, which is not trained on. */
    long droppedExamples() {
        return droppedExamples;
    }

    /** Where the mini-batches are spilled. */
    Path file() {
        return file;
    }

    /** Streams the mini-batches of one epoch: in file order, or a seeded permutation when {@code shuffle}. */
    Iterator<DataSet> epoch(int epoch, boolean shuffle, long seed) {
        int[] order = new int[offsets.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        if (shuffle) {
            Random r = new Random(seed * 1_000_003L + epoch);
            for (int i = order.length - 1; i > 0; i--) {
                int j = r.nextInt(i + 1);
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
        }
        FileChannel ch;
        try {
            ch = FileChannel.open(file, StandardOpenOption.READ);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the mini-batch spill file " + file, e);
        }
        return new Iterator<>() {
            private int next;

            @Override
            public boolean hasNext() {
                if (next >= order.length) {
                    closeQuietly();
                    return false;
                }
                return true;
            }

            @Override
            public DataSet next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                int b = order[next++];
                ByteBuffer buf = ByteBuffer.allocate(lengths[b]);
                try {
                    long pos = offsets[b];
                    while (buf.hasRemaining()) {
                        int n = ch.read(buf, pos);
                        if (n < 0) {
                            throw new IOException("unexpected end of file at " + pos);
                        }
                        pos += n;
                    }
                } catch (IOException e) {
                    closeQuietly();
                    throw new UncheckedIOException("cannot read mini-batch " + b + " from " + file, e);
                }
                return DataSetBytes.fromBytes(buf.array());
            }

            private void closeQuietly() {
                try {
                    ch.close();
                } catch (IOException ignored) {
                    // read-only file; nothing to lose
                }
            }
        };
    }

    @Override
    public void close() {
        deleteQuietly(file);
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // a leftover temp file in Spark's local dir is removed with the application's dirs
        }
    }
}
