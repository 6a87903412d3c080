package io.sparkmp.transport;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;

/** A hand-driven peer: authenticates like a real dialer, then writes whatever bytes a test wants. */
final class FakePeer implements AutoCloseable {
    final NioWire wire;
    private final FrameCodec codec;

    private FakePeer(NioWire wire, TransportConfig config) {
        this.wire = wire;
        this.jobId = config.jobId();
        this.codec = new FrameCodec(config.jobId(), config.maxFrameBytes());
    }

    /** Connects to {@code target} and completes the handshake as {@code rank}. */
    static FakePeer dial(TransportConfig config, int rank, int targetRank, InetSocketAddress target)
            throws IOException {
        SocketChannel ch = SocketChannel.open(target);
        NioWire w = new NioWire(ch);
        Handshake.dial(w, config, rank, targetRank, 5000);
        return new FakePeer(w, config);
    }

    /** Header plus payload bytes of a tensor frame, exactly as a real sender writes them. */
    ByteBuffer frame(TensorKey key, INDArray a) {
        WireDataType t = WireDataType.of(a.dataType());
        INDArray c = a.dup('c');
        long bytes = c.isEmpty() ? 0 : c.length() * t.width;
        ByteBuffer head = ByteBuffer.allocate(FrameCodec.MAX_HEADER_BYTES + 4);
        codec.encode(FrameHeader.tensor(codecJob(), key, t, 'c', c.isEmpty(), c.shape(), bytes), head);
        ByteBuffer out = ByteBuffer.allocate(head.remaining() + (int) bytes);
        out.put(head);
        if (bytes > 0) {
            ByteBuffer p = c.data().asNio().duplicate();
            p.limit((int) bytes);
            out.put(p);
        }
        return out.flip();
    }

    private String jobId;

    FakePeer job(String id) {
        this.jobId = id;
        return this;
    }

    private String codecJob() {
        return jobId;
    }

    void write(ByteBuffer b) throws IOException {
        wire.write(new ByteBuffer[] {b}, 5000);
    }

    @Override
    public void close() throws IOException {
        wire.close();
    }
}
