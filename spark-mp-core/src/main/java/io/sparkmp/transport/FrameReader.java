package io.sparkmp.transport;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Reads frames off one {@link Wire}: header into a small read-ahead buffer, payload straight into a pooled
 * array's host memory (made ready and, once filled, marked as the current copy by the pool's {@link HostSync}). Every declared size is checked by {@link FrameCodec} before anything is allocated.
 * Between frames the wire may be silent for {@code idleMillis}; inside a frame for {@code readMillis}.
 */
final class FrameReader {
    /** A decoded frame; {@code tensor} is null for control messages. */
    record Frame(FrameHeader header, INDArray tensor) {
    }

    private static final int READ_AHEAD = 64 * 1024;

    private final Wire wire;
    private final FrameCodec codec;
    private final ReceivePool pool;
    private final Landings landings;
    private final ByteBuffer ahead = ByteBuffer.allocateDirect(READ_AHEAD).order(ByteOrder.BIG_ENDIAN);
    private final byte[] headerBytes = new byte[FrameCodec.MAX_HEADER_BYTES];

    FrameReader(Wire wire, FrameCodec codec, ReceivePool pool) {
        this(wire, codec, pool, new Landings());
    }

    FrameReader(Wire wire, FrameCodec codec, ReceivePool pool, Landings landings) {
        this.wire = wire;
        this.codec = codec;
        this.pool = pool;
        this.landings = landings;
        ahead.limit(0);
    }

    /** Forgets buffered bytes, for a reader reused on a new stream (the fuzz test decodes 10^5 streams). */
    void reset() {
        ahead.clear().limit(0);
    }

    /**
     * Reads the next frame.
     *
     * @throws FrameException for a malformed frame, a broken limit or a stream that ends inside a frame
     * @throws java.net.SocketTimeoutException when the peer is silent too long (idle or inside a frame)
     * @throws IOException when the connection fails
     */
    Frame next(long idleMillis, long readMillis) throws IOException {
        if (!fill(4, idleMillis, readMillis, true, "length prefix")) {
            throw new EOFException("connection closed by peer");
        }
        int headerLength = FrameCodec.checkHeaderLength(ahead.getInt());
        fill(headerLength, readMillis, readMillis, false, "header");
        ahead.get(headerBytes, 0, headerLength);
        FrameHeader h = codec.decode(headerBytes, headerLength);
        if (h.messageType != FrameHeader.MSG_TENSOR) {
            return new Frame(h, null);
        }
        WireDataType dtype = WireDataType.fromId(h.dataTypeId);
        boolean empty = (h.flags & FrameHeader.FLAG_EMPTY) != 0;
        INDArray landed = landings.claim(h);
        INDArray a = landed != null ? landed : pool.take(dtype, h.order, h.shape, empty, h.byteLength);
        if (h.byteLength > 0) {
            try {
                HostSync sync = pool.sync();
                sync.beforeHostWrite(a);
                readPayload(landed != null ? TensorPayload.memoryOf(a) : pooledBytes(a, (int) h.byteLength),
                        (int) h.byteLength, readMillis);
                sync.afterHostWrite(a); // the device copy is stale now
            } catch (IOException | RuntimeException e) {
                pool.recycle(a); // ignores a named array (a view)
                throw e;
            }
        }
        return new Frame(h, a);
    }

    private static ByteBuffer pooledBytes(INDArray a, int length) {
        ByteBuffer dst = a.data().asNio();
        dst.clear();
        if (dst.capacity() < length) {
            throw new FrameException("receive array holds " + dst.capacity() + " bytes, frame needs " + length);
        }
        dst.limit(length);
        return dst;
    }

    /**
     * Like {@link #next}, but between frames waits at most {@code boundaryNanos} and returns null when nothing
     * arrived by then or {@code stop} said so; a frame once begun is read to its end ({@code readMillis}).
     * Only for a {@link NioWire}.
     */
    Frame poll(long boundaryNanos, long readMillis, java.util.function.BooleanSupplier stop) throws IOException {
        if (!ahead.hasRemaining()) {
            ahead.clear();
            int n;
            try {
                n = ((NioWire) wire).poll(ahead, boundaryNanos, stop);
            } finally {
                ahead.flip();
            }
            if (n < 0) {
                throw new EOFException("connection closed by peer");
            }
            if (n == 0) {
                return null;
            }
        }
        return next(readMillis, readMillis);
    }

    /** Reads {@code length} payload bytes into {@code dst} (from its position, exactly that many remaining). */
    private void readPayload(ByteBuffer dst, int length, long readMillis) throws IOException {
        int fromAhead = Math.min(ahead.remaining(), length);
        if (fromAhead > 0) {
            ByteBuffer slice = ahead.slice();
            slice.limit(fromAhead);
            dst.put(slice);
            ahead.position(ahead.position() + fromAhead);
        }
        while (dst.hasRemaining()) {
            if (read(dst, readMillis, "inside a payload (readTimeout)") < 0) {
                throw new FrameException("stream ended inside a payload after " + (length - dst.remaining()) + " of "
                        + length + " bytes");
            }
        }
    }

    private int read(ByteBuffer dst, long millis, String what) throws IOException {
        try {
            return wire.read(dst, millis);
        } catch (java.net.SocketTimeoutException e) {
            throw new java.net.SocketTimeoutException("peer silent for " + millis + " ms " + what);
        }
    }

    /**
     * Makes {@code n} bytes available in the read-ahead buffer.
     *
     * @return false when the stream ended first (at a frame boundary if {@code boundary} and none were read)
     */
    private boolean fill(int n, long firstMillis, long restMillis, boolean boundary, String part)
            throws IOException {
        if (ahead.remaining() >= n) {
            return true;
        }
        ahead.compact();
        try {
            while (ahead.position() < n) {
                long t = ahead.position() == 0 && boundary ? firstMillis : restMillis;
                String what = t == firstMillis && ahead.position() == 0 && boundary
                        ? "between frames (idleTimeout)" : "inside a frame " + part + " (readTimeout)";
                if (read(ahead, t, what) < 0) {
                    if (ahead.position() == 0 && boundary) {
                        return false;
                    }
                    throw new FrameException("stream ended inside a frame " + part + " (" + ahead.position()
                            + " of " + n + " bytes)");
                }
            }
            return true;
        } finally {
            ahead.flip();
        }
    }
}
