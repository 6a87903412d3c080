package io.sparkmp.store;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.List;
import java.util.UUID;
import java.util.zip.CRC32C;

import org.apache.hadoop.fs.ChecksumException;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Writes and reads one layer's file: its parameter segments then its updater-state segments, streamed
 * between native memory and the file system in 1 MiB chunks (layout in {@link LayerFormat}).
 *
 * <p>Segments are usually views into a live network ({@code LayerParameters.parameterSegments} and
 * {@code stateSegments}); they are neither copied whole into the Java heap nor duplicated off-heap.
 */
@io.sparkmp.Internal
public final class LayerFiles {

    /** Layer files end so, which lets {@link ModelStore#commit} tell them from other files. */
    static final String SUFFIX = ".bin";
    static final String TMP_MARK = ".tmp-";

    private LayerFiles() {
    }

    /**
     * Streams the parameter segments then the updater-state segments of layer {@code layer} to
     * {@code dir/fileName}. On file systems with atomic rename the file is written under a temporary name
     * in {@code dir} and then renamed over the target; on object stores it is written in place (an object
     * appears only once its upload completes).
     *
     * @param fileName a plain name ending in {@code .bin} (no folder, not hidden)
     * @param state the updater-state segments, empty for a stateless updater
     * @return the manifest entry, with a CRC32C over the whole file
     * @throws IllegalArgumentException when the segments are empty, null or of different data types
     * @throws IOException when the file cannot be written; a temporary file is removed
     */
    public static LayerEntry write(FileSystem fs, Path dir, String fileName, int layer, List<INDArray> params,
                                   List<INDArray> state) throws IOException {
        checkFileName(fileName);
        if (params == null || state == null) {
            throw new IllegalArgumentException("segments of " + fileName + " must not be null (use an empty list)");
        }
        DataType type = LayerFormat.commonType(params, state, fileName);
        if (type == null) {
            throw new IllegalArgumentException(fileName + ": layer " + layer + " has no segments to write");
        }
        String dataType = type.name();
        LayerFormat.codeOf(dataType);
        long paramCount = LayerFormat.totalLength(params);
        long stateCount = LayerFormat.totalLength(state);
        Path target = new Path(dir, fileName);
        boolean inPlace = StoreSchemes.isObjectStore(fs.getUri());
        Path written = inPlace ? target : new Path(dir, "." + fileName + TMP_MARK + UUID.randomUUID());
        CRC32C crc = new CRC32C();
        try {
            try (OutputStream out = fs.create(written, true)) {
                byte[] header = LayerFormat.header(layer, dataType, paramCount, stateCount);
                crc.update(header);
                out.write(header);
                byte[] buf = new byte[LayerFormat.CHUNK_BYTES];
                for (INDArray a : params) {
                    LayerFormat.write(a, out, crc, buf);
                }
                for (INDArray a : state) {
                    LayerFormat.write(a, out, crc, buf);
                }
            }
            if (!inPlace) {
                StoreSchemes.renameOver(fs, written, target);
            }
        } catch (IOException | RuntimeException e) {
            try {
                fs.delete(written, false);
            } catch (IOException cleanup) {
                e.addSuppressed(cleanup);
            }
            throw e;
        }
        return new LayerEntry(layer, fileName, dataType, paramCount, stateCount,
                LayerFormat.fileBytes(dataType, paramCount, stateCount), hex(crc.getValue()));
    }

    /**
     * Reads a layer file into destination views, verifying its length, header and checksum. On an error
     * the destinations may hold part of the file: the caller must not use them.
     *
     * @param params views whose lengths sum to {@code entry.paramCount()}, of the entry's data type
     * @param state views whose lengths sum to {@code entry.stateCount()} (empty when it is 0)
     * @throws IllegalArgumentException when the destinations do not fit the entry
     * @throws IOException when the file is missing, truncated, corrupted or not the one the entry names
     */
    public static void readInto(FileSystem fs, Path dir, LayerEntry entry, List<INDArray> params,
                                List<INDArray> state) throws IOException {
        Path file = new Path(dir, entry.file());
        String name = file.toString();
        checkDestinations(entry, params, state, name);
        FileStatus status;
        try {
            status = fs.getFileStatus(file);
        } catch (java.io.FileNotFoundException e) {
            throw new IOException("layer file " + name + " named by the manifest does not exist", e);
        }
        if (status.getLen() != entry.bytes()) {
            throw new IOException("layer file " + name + " is " + status.getLen() + " bytes, the manifest records "
                    + entry.bytes() + " (truncated or replaced)");
        }
        CRC32C crc = new CRC32C();
        try (InputStream in = fs.open(file)) {
            byte[] buf = new byte[LayerFormat.CHUNK_BYTES];
            LayerFormat.readFully(in, buf, LayerFormat.HEADER_BYTES, name);
            crc.update(buf, 0, LayerFormat.HEADER_BYTES);
            LayerFormat.checkHeader(java.util.Arrays.copyOf(buf, LayerFormat.HEADER_BYTES), entry, name);
            for (INDArray a : params) {
                LayerFormat.read(a, in, crc, buf, name);
            }
            for (INDArray a : state) {
                LayerFormat.read(a, in, crc, buf, name);
            }
            if (in.read() >= 0) {
                throw new IOException("layer file " + name + " is longer than the manifest records (" + entry.bytes()
                        + " bytes)");
            }
        } catch (ChecksumException e) {
            throw new IOException("layer file " + name + " failed the file system's checksum (corrupted): "
                    + e.getMessage(), e);
        }
        String found = hex(crc.getValue());
        if (!found.equals(entry.checksum())) {
            throw new IOException("layer file " + name + " has checksum " + found + ", the manifest records "
                    + entry.checksum() + " (corrupted)");
        }
    }

    /**
     * Reads a layer file into fresh rank-1 arrays.
     *
     * @return {@code [params, state]}; state is null when the entry holds none
     */
    public static INDArray[] read(FileSystem fs, Path dir, LayerEntry entry) throws IOException {
        DataType t = LayerFormat.typeOf(entry.dataType());
        INDArray params = Nd4j.create(t, entry.paramCount());
        INDArray state = entry.stateCount() == 0 ? null : Nd4j.create(t, entry.stateCount());
        readInto(fs, dir, entry, List.of(params), state == null ? List.of() : List.of(state));
        return new INDArray[] {params, state};
    }

    private static void checkDestinations(LayerEntry entry, List<INDArray> params, List<INDArray> state,
                                          String name) {
        if (params == null || state == null) {
            throw new IllegalArgumentException("destinations for " + name + " must not be null (use an empty list)");
        }
        DataType t = LayerFormat.commonType(params, state, name);
        if (t != null && !t.name().equals(entry.dataType())) {
            throw new IllegalArgumentException(name + " holds " + entry.dataType() + " values, the destinations are "
                    + t);
        }
        long p = LayerFormat.totalLength(params);
        long s = LayerFormat.totalLength(state);
        if (p != entry.paramCount() || s != entry.stateCount()) {
            throw new IllegalArgumentException(name + " holds " + entry.paramCount() + " parameters and "
                    + entry.stateCount() + " state values (layer " + entry.layer() + "), the destinations take "
                    + p + " and " + s);
        }
    }

    /**
     * Writes one file per layer of {@code params} (segments by global layer index), each with that layer's
     * updater-state segments from {@code state} (none when absent), named {@link #fileName}{@code (layer, tag)}.
     *
     * @return the manifest entries, in layer order
     */
    public static List<LayerEntry> writeAll(FileSystem fs, Path dir, String tag, java.util.Map<Integer, List<INDArray>> params,
                                            java.util.Map<Integer, List<INDArray>> state) throws IOException {
        List<LayerEntry> out = new java.util.ArrayList<>();
        for (java.util.Map.Entry<Integer, List<INDArray>> e : new java.util.TreeMap<>(params).entrySet()) {
            int layer = e.getKey();
            out.add(write(fs, dir, fileName(layer, tag), layer, e.getValue(), state.getOrDefault(layer, List.of())));
        }
        return out;
    }

    /**
     * The file of {@code layer} written by the writer tagged {@code tag}. Each job writes its own names, so a
     * store being replaced stays complete and readable until the new manifest commits.
     */
    public static String fileName(int layer, String tag) {
        if (tag == null || !tag.matches("[A-Za-z0-9-]+")) {
            throw new IllegalArgumentException("store file tag must be letters, digits and '-', found " + tag);
        }
        return String.format("layer-%05d-%s%s", layer, tag, SUFFIX);
    }

    static void checkFileName(String fileName) {
        if (fileName == null || fileName.isEmpty() || fileName.contains("/") || fileName.contains("\\")
                || fileName.startsWith(".") || fileName.startsWith("_") || !fileName.endsWith(SUFFIX)
                || fileName.contains(TMP_MARK) || fileName.length() == SUFFIX.length()) {
            throw new IllegalArgumentException("layer file name must be a plain name ending in " + SUFFIX
                    + " (no folder, not starting with '.' or '_'), found " + fileName);
        }
    }

    static String hex(long crc) {
        return String.format("%08x", crc);
    }
}
