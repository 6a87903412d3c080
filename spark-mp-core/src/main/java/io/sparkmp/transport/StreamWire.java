package io.sparkmp.transport;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;

/**
 * A blocking {@link Socket} (used for TLS: {@code SSLSocket} has no channel). Reads time out through
 * {@code SO_TIMEOUT}; payloads pass through a heap chunk, one copy more than {@link NioWire}.
 * {@link #close()} closes the plain socket under the TLS layer first, so a blocked write is released too.
 */
final class StreamWire implements Wire {
    private static final int CHUNK = 256 * 1024;
    private final Socket socket;
    private final Socket raw;
    private final InputStream in;
    private final OutputStream out;
    private final InetSocketAddress remote;
    private final byte[] readChunk = new byte[CHUNK];
    private final byte[] writeChunk = new byte[CHUNK];
    private volatile boolean closed;

    StreamWire(Socket socket, Socket raw) throws IOException {
        this.socket = socket;
        this.raw = raw;
        this.in = socket.getInputStream();
        this.out = socket.getOutputStream();
        this.remote = (InetSocketAddress) raw.getRemoteSocketAddress();
    }

    @Override
    public int read(ByteBuffer dst, long timeoutMillis) throws IOException {
        socket.setSoTimeout((int) Math.min(Integer.MAX_VALUE, Math.max(1, timeoutMillis)));
        int n = in.read(readChunk, 0, Math.min(readChunk.length, dst.remaining()));
        if (n > 0) {
            dst.put(readChunk, 0, n);
        }
        return n;
    }

    @Override
    public void write(ByteBuffer[] srcs, long stallMillis) throws IOException {
        // stallMillis is not enforced here: a blocked TLS write is released by close() (send has its own timeout)
        for (ByteBuffer b : srcs) {
            while (b.hasRemaining()) {
                int n = Math.min(writeChunk.length, b.remaining());
                b.get(writeChunk, 0, n);
                out.write(writeChunk, 0, n);
            }
        }
        out.flush();
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
        try {
            raw.close();
        } finally {
            socket.close();
        }
    }
}
