package io.sparkmp.transport;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;

/** One connected byte stream (plain NIO or TLS) with per-call timeouts. */
interface Wire extends AutoCloseable {

    /**
     * Reads at least one byte into {@code dst} (which must have room).
     *
     * @return bytes read, or -1 at end of stream
     * @throws java.net.SocketTimeoutException when no byte arrives within {@code timeoutMillis}
     */
    int read(ByteBuffer dst, long timeoutMillis) throws IOException;

    /**
     * Writes all remaining bytes of {@code srcs}.
     *
     * @throws java.net.SocketTimeoutException when the peer takes no byte for {@code stallMillis}
     */
    void write(ByteBuffer[] srcs, long stallMillis) throws IOException;

    /**
     * Writes what the connection takes now without waiting; for small frames sent from the caller's thread.
     *
     * @return false if this wire cannot write without blocking (nothing was written)
     */
    default boolean tryWrite(ByteBuffer[] srcs) throws IOException {
        return false;
    }

    InetSocketAddress remoteAddress();

    /**
     * Closes the connection at once; unblocks any thread reading or writing it. Idempotent.
     *
     * @throws IOException the first error while closing its parts (the others suppressed); all are closed
     */
    @Override
    void close() throws IOException;

    /** Reads exactly {@code dst.remaining()} bytes. */
    static void readFully(Wire w, ByteBuffer dst, long timeoutMillis, String what) throws IOException {
        while (dst.hasRemaining()) {
            if (w.read(dst, timeoutMillis) < 0) {
                throw new java.io.EOFException("connection closed by peer while reading " + what);
            }
        }
    }
}
