package io.sparkmp.store;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.zip.CRC32C;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.concurrency.AffinityManager;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * The byte layout of a layer file and the copying of segments between native memory and streams.
 *
 * <pre>
 * offset  size  content (all little-endian)
 *      0     4  magic "SMPL"
 *      4     4  format version (1)
 *      8     4  layer index
 *     12     4  data type code: 1 DOUBLE, 2 FLOAT, 3 HALF, 4 BFLOAT16
 *     16     8  parameter count
 *     24     8  updater-state count
 *     32     -  the parameter segments, then the updater-state segments, each in C order
 * </pre>
 *
 * Values are copied through one small heap buffer per file, so a layer never exists twice in memory.
 */
final class LayerFormat {

    static final int HEADER_BYTES = 32;
    static final int VERSION = 1;
    private static final byte[] MAGIC = {'S', 'M', 'P', 'L'};
    private static final DataType[] CODES = {null, DataType.DOUBLE, DataType.FLOAT, DataType.HALF, DataType.BFLOAT16};
    static final int CHUNK_BYTES = 1 << 20;

    private LayerFormat() {
    }

    static int codeOf(String dataType) {
        for (int c = 1; c < CODES.length; c++) {
            if (CODES[c].name().equals(dataType)) {
                return c;
            }
        }
        throw new IllegalArgumentException("data type must be one of DOUBLE, FLOAT, HALF, BFLOAT16, found " + dataType);
    }

    static DataType typeOf(String dataType) {
        return CODES[codeOf(dataType)];
    }

    static long fileBytes(String dataType, long paramCount, long stateCount) {
        return HEADER_BYTES + (paramCount + stateCount) * Nd4j.sizeOfDataType(typeOf(dataType));
    }

    static byte[] header(int layer, String dataType, long paramCount, long stateCount) {
        ByteBuffer b = ByteBuffer.allocate(HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        b.put(MAGIC).putInt(VERSION).putInt(layer).putInt(codeOf(dataType)).putLong(paramCount).putLong(stateCount);
        return b.array();
    }

    /** Checks a header read from {@code file} against its manifest entry. */
    static void checkHeader(byte[] h, LayerEntry e, String file) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(h).order(ByteOrder.LITTLE_ENDIAN);
        byte[] magic = new byte[4];
        b.get(magic);
        if (!java.util.Arrays.equals(magic, MAGIC)) {
            throw new IOException(file + " is not a spark-mp layer file (bad magic bytes)");
        }
        int version = b.getInt();
        if (version != VERSION) {
            throw new IOException(file + " has layer-file format version " + version + ", this spark-mp reads " + VERSION);
        }
        int layer = b.getInt();
        int code = b.getInt();
        long params = b.getLong();
        long state = b.getLong();
        if (layer != e.layer() || code != codeOf(e.dataType()) || params != e.paramCount() || state != e.stateCount()) {
            throw new IOException(file + " holds layer " + layer + ", " + describeCode(code) + ", " + params
                    + " parameters, " + state + " state values; the manifest records layer " + e.layer() + ", "
                    + e.dataType() + ", " + e.paramCount() + " parameters, " + e.stateCount() + " state values");
        }
    }

    private static String describeCode(int code) {
        return code > 0 && code < CODES.length ? CODES[code].name() : "data type code " + code;
    }

    /** Data type shared by every segment of both lists; {@code fallback} when both are empty. */
    static DataType commonType(List<INDArray> params, List<INDArray> state, String what) {
        DataType t = null;
        for (List<INDArray> list : List.of(params, state)) {
            for (INDArray a : list) {
                if (a == null) {
                    throw new IllegalArgumentException(what + ": a segment is null");
                }
                if (t == null) {
                    t = a.dataType();
                } else if (a.dataType() != t) {
                    throw new IllegalArgumentException(what + ": all segments must share one data type, found "
                            + t + " and " + a.dataType());
                }
            }
        }
        return t;
    }

    static long totalLength(List<INDArray> segments) {
        long n = 0;
        for (INDArray a : segments) {
            n += a.length();
        }
        return n;
    }

    /** Streams {@code a}'s values, C order, little-endian, to {@code out} through {@code buf}. */
    static void write(INDArray a, OutputStream out, CRC32C crc, byte[] buf) throws IOException {
        eachChunk(a, buf, false, (host, n) -> {
            host.get(buf, 0, n);
            crc.update(buf, 0, n);
            out.write(buf, 0, n);
        });
    }

    /** Fills {@code a}, C order, from {@code in} through {@code buf}; the inverse of {@link #write}. */
    static void read(INDArray a, InputStream in, CRC32C crc, byte[] buf, String file) throws IOException {
        eachChunk(a, buf, true, (host, n) -> {
            readFully(in, buf, n, file);
            crc.update(buf, 0, n);
            host.put(buf, 0, n);
        });
    }

    /** One chunk of at most {@code buf.length} bytes of an array's host memory, in C order. */
    private interface Chunk {
        void copy(ByteBuffer host, int n) throws IOException;
    }

    /**
     * Walks {@code a}'s values in C order as windows of at most {@code buf.length} bytes of host memory, for writing
     * ({@code fill} false) or for filling ({@code fill} true, after which the host copy is the current one). A
     * C-contiguous array is walked in place; a higher-rank one slice by slice; a strided vector (not produced by DL4J's
     * own views) through one bounded contiguous copy per chunk.
     */
    private static void eachChunk(INDArray a, byte[] buf, boolean fill, Chunk chunk) throws IOException {
        if (a.length() == 0) {
            return;
        }
        if (isCContiguous(a)) {
            BytePointer host = hostBytes(a);
            long bytes = host.limit();
            for (long off = 0; off < bytes; off += buf.length) {
                int n = (int) Math.min(buf.length, bytes - off);
                chunk.copy(window(host, off, n), n);
            }
            if (fill) {
                Nd4j.getAffinityManager().tagLocation(a, AffinityManager.Location.HOST);
            }
        } else if (a.rank() > 1) {
            for (long i = 0; i < a.size(0); i++) {
                eachChunk(a.slice(i), buf, fill, chunk);
            }
        } else {
            long per = Math.max(1, buf.length / a.data().getElementSize());
            for (long from = 0; from < a.length(); from += per) {
                INDArray view = a.get(NDArrayIndex.interval(from, Math.min(a.length(), from + per)));
                INDArray contiguous = fill ? Nd4j.create(a.dataType(), view.length()) : view.dup();
                eachChunk(contiguous, buf, fill, chunk);
                if (fill) {
                    view.assign(contiguous);
                }
            }
        }
    }

    static void readFully(InputStream in, byte[] buf, int n, String file) throws IOException {
        int done = 0;
        while (done < n) {
            int r = in.read(buf, done, n - done);
            if (r < 0) {
                throw new EOFException(file + " ended early (truncated)");
            }
            done += r;
        }
    }

    /** True when the values lie in native memory in C order without gaps, so they can be copied as bytes. */
    static boolean isCContiguous(INDArray a) {
        long expected = 1;
        for (int d = a.rank() - 1; d >= 0; d--) {
            if (a.size(d) != 1 && a.stride(d) != expected) {
                return false;
            }
            expected *= a.size(d);
        }
        return true;
    }

    /** The host memory of a C-contiguous array, as a byte pointer whose limit is its length in bytes. */
    private static BytePointer hostBytes(INDArray a) {
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new UnsupportedOperationException("spark-mp layer files are little-endian; this platform is "
                    + ByteOrder.nativeOrder());
        }
        Nd4j.getAffinityManager().ensureLocation(a, AffinityManager.Location.HOST);
        // addressPointer() is where this array's buffer starts (its offset into a parent buffer included).
        Pointer p = a.data().addressPointer();
        if (p == null || p.isNull() || p.position() != 0) {
            throw new IllegalStateException("no host memory address for an array of " + a.length() + " values");
        }
        long bytes = a.length() * a.data().getElementSize();
        BytePointer bp = new BytePointer(p);
        bp.position(0).limit(bytes).capacity(bytes);
        return bp;
    }

    /** A buffer over {@code n} bytes of {@code host} from byte {@code off}: windows keep segments over 2 GiB usable. */
    private static ByteBuffer window(BytePointer host, long off, int n) {
        return new BytePointer(host).position(off).limit(off + n).asByteBuffer();
    }
}
