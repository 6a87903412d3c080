package io.sparkmp.spark;

import io.sparkmp.runtime.MiniBatch;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

/**
 * A graph rank's training rows: the serialized MultiDataSet chunks of its partition regrouped into mini-batches of
 * {@code batchSize} examples, one file per mini-batch in the executor's local dir (ND4J's MultiDataSet format), read
 * back one mini-batch at a time. Features and labels are cast to the graph's data type. Every reading rank of a
 * graph job receives the same rows in the same order, so all read the same mini-batch at each step.
 */
final class GraphBatchSpill implements RowSpill {

    private final List<Path> files;
    private final int batchSize;
    private final long examples;

    private GraphBatchSpill(List<Path> files, int batchSize, long examples) {
        this.files = files;
        this.batchSize = batchSize;
        this.examples = examples;
    }

    /** Serialized MultiDataSet bytes. */
    static byte[] toBytes(MultiDataSet ds) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        try {
            ds.save(out);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot serialize a MultiDataSet", e);
        }
        return out.toByteArray();
    }

    static MultiDataSet fromBytes(byte[] bytes) {
        return read(new java.io.ByteArrayInputStream(bytes));
    }

    private static MultiDataSet read(InputStream in) {
        org.nd4j.linalg.dataset.MultiDataSet ds = new org.nd4j.linalg.dataset.MultiDataSet();
        try {
            ds.load(in);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read a serialized MultiDataSet", e);
        }
        return ds;
    }

    /**
     * Writes the chunks' examples as whole mini-batches to new files in {@code dir}, holding at most one mini-batch
     * and one chunk at a time.
     */
    static GraphBatchSpill write(Iterator<byte[]> chunks, Path dir, int batchSize, DataType dataType) {
        if (batchSize < 1) {
            throw new IllegalArgumentException("batchSize must be >= 1, found " + batchSize);
        }
        List<Path> files = new ArrayList<>();
        List<MultiDataSet> pending = new ArrayList<>();
        long pendingRows = 0;
        long examples = 0;
        boolean done = false;
        try {
            Files.createDirectories(dir);
            while (chunks.hasNext()) {
                MultiDataSet ds = inType(fromBytes(chunks.next()), dataType);
                long n = ds.getFeatures(0).size(0);
                examples += n;
                pending.add(ds);
                pendingRows += n;
                while (pendingRows >= batchSize) {
                    MultiDataSet all = pending.size() == 1 ? pending.get(0)
                            : org.nd4j.linalg.dataset.MultiDataSet.merge(pending);
                    files.add(save(dir, rows(all, 0, batchSize)));
                    pending.clear();
                    pendingRows -= batchSize;
                    if (pendingRows > 0) {
                        pending.add(rows(all, batchSize, pendingRows));
                    }
                }
            }
            done = true;
            return new GraphBatchSpill(files, batchSize, examples);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the graph mini-batch files in " + dir, e);
        } finally {
            if (!done) {
                files.forEach(GraphBatchSpill::deleteQuietly);
            }
        }
    }

    private static Path save(Path dir, MultiDataSet batch) throws IOException {
        Path f = Files.createTempFile(dir, "spark-mp-graph-minibatch-", ".bin");
        try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(f))) {
            batch.save(out);
        } catch (IOException | RuntimeException e) {
            deleteQuietly(f);
            throw e;
        }
        return f;
    }

    private static MultiDataSet inType(MultiDataSet ds, DataType t) {
        INDArray[] f = ds.getFeatures().clone();
        INDArray[] l = ds.getLabels() == null ? null : ds.getLabels().clone();
        for (int i = 0; i < f.length; i++) {
            f[i] = f[i].dataType() == t ? f[i] : f[i].castTo(t);
        }
        for (int i = 0; l != null && i < l.length; i++) {
            l[i] = l[i].dataType() == t ? l[i] : l[i].castTo(t);
        }
        return new org.nd4j.linalg.dataset.MultiDataSet(f, l, ds.getFeaturesMaskArrays(), ds.getLabelsMaskArrays());
    }

    /** Examples [from, from + count) of every array of {@code ds}, as fresh arrays. */
    private static MultiDataSet rows(MultiDataSet ds, long from, long count) {
        return new org.nd4j.linalg.dataset.MultiDataSet(rows(ds.getFeatures(), from, count),
                rows(ds.getLabels(), from, count), rows(ds.getFeaturesMaskArrays(), from, count),
                rows(ds.getLabelsMaskArrays(), from, count));
    }

    private static INDArray[] rows(INDArray[] arrays, long from, long count) {
        if (arrays == null) {
            return null;
        }
        INDArray[] out = new INDArray[arrays.length];
        for (int i = 0; i < arrays.length; i++) {
            out[i] = arrays[i] == null ? null : MiniBatch.rows(arrays[i], from, count);
        }
        return out;
    }

    @Override
    public int batches() {
        return files.size();
    }

    @Override
    public long examples() {
        return examples;
    }

    @Override
    public long droppedExamples() {
        return examples - (long) files.size() * batchSize;
    }

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
                Path f = files.get(order[next++]);
                try (InputStream in = new BufferedInputStream(Files.newInputStream(f))) {
                    return new GraphMiniBatch(read(in));
                } catch (IOException e) {
                    throw new UncheckedIOException("cannot read the graph mini-batch file " + f, e);
                }
            }
        };
    }

    @Override
    public void close() {
        files.forEach(GraphBatchSpill::deleteQuietly);
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // a file left in the executor's local dir is removed with it
        }
    }
}
