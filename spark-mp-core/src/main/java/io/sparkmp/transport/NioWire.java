package io.sparkmp.transport;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;

/**
 * Plain TCP through a non-blocking {@link SocketChannel}: payloads move between direct buffers and the
 * kernel with no extra copy, and timeouts come from one selector per direction (a blocking channel read
 * ignores {@code SO_TIMEOUT}).
 */
final class NioWire implements Wire {
    private final SocketChannel channel;
    private final InetSocketAddress remote;
    private final Selector readSelector;
    private final Selector writeSelector;
    private volatile boolean closed;

    NioWire(SocketChannel channel) throws IOException {
        this.channel = channel;
        this.remote = (InetSocketAddress) channel.getRemoteAddress();
        channel.setOption(java.net.StandardSocketOptions.TCP_NODELAY, true);
        channel.configureBlocking(false);
        readSelector = Selector.open();
        writeSelector = Selector.open();
        channel.register(readSelector, SelectionKey.OP_READ);
        channel.register(writeSelector, SelectionKey.OP_WRITE);
    }

    @Override
    public int read(ByteBuffer dst, long timeoutMillis) throws IOException {
        int n = channel.read(dst);
        if (n != 0) {
            return n;
        }
        long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
        while (true) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new SocketTimeoutException("no data for " + timeoutMillis + " ms");
            }
            readSelector.select(Math.max(1, left / 1_000_000L));
            readSelector.selectedKeys().clear();
            checkOpen();
            n = channel.read(dst);
            if (n != 0) {
                return n;
            }
        }
    }

    /**
     * Reads what arrives within {@code timeoutNanos}, returning early with 0 once {@code stop} says so (checked
     * after every wake-up; {@link #wakeup} makes a waiting call check it now).
     *
     * @return bytes read, -1 at end of stream, 0 on timeout or stop
     */
    int poll(ByteBuffer dst, long timeoutNanos, java.util.function.BooleanSupplier stop) throws IOException {
        long deadline = System.nanoTime() + timeoutNanos;
        while (true) {
            int n = channel.read(dst);
            if (n != 0) {
                return n;
            }
            long left = deadline - System.nanoTime();
            if (left <= 0 || stop.getAsBoolean()) {
                return 0;
            }
            readSelector.select(Math.max(1, (left + 999_999) / 1_000_000L));
            readSelector.selectedKeys().clear();
            checkOpen();
        }
    }

    /** Makes a thread waiting in {@link #poll} look at its stop condition. */
    void wakeup() {
        readSelector.wakeup();
    }

    @Override
    public void write(ByteBuffer[] srcs, long stallMillis) throws IOException {
        long stallNanos = stallMillis * 1_000_000L;
        long progressAt = System.nanoTime();
        while (remaining(srcs) > 0) {
            long n = channel.write(srcs);
            if (n > 0) {
                progressAt = System.nanoTime();
                continue;
            }
            long left = progressAt + stallNanos - System.nanoTime();
            if (left <= 0) {
                throw new SocketTimeoutException("peer took no data for " + stallMillis + " ms");
            }
            writeSelector.select(Math.max(1, left / 1_000_000L));
            writeSelector.selectedKeys().clear();
            checkOpen();
        }
    }

    @Override
    public boolean tryWrite(ByteBuffer[] srcs) throws IOException {
        long n;
        do {
            n = channel.write(srcs);
        } while (n > 0 && remaining(srcs) > 0);
        return true;
    }

    static long remaining(ByteBuffer[] srcs) {
        long r = 0;
        for (ByteBuffer b : srcs) {
            r += b.remaining();
        }
        return r;
    }

    private void checkOpen() throws IOException {
        if (closed) {
            throw new java.nio.channels.ClosedChannelException();
        }
    }

    /** This end's port (tests match it against the address an error names). */
    int localPort() {
        return channel.socket().getLocalPort();
    }

    @Override
    public InetSocketAddress remoteAddress() {
        return remote;
    }

    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        // Closing the selectors wakes a thread blocked in select; closing the channel then fails its next call.
        IOException first = null;
        for (java.io.Closeable c : new java.io.Closeable[] {readSelector, writeSelector, channel}) {
            try {
                c.close();
            } catch (IOException e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
