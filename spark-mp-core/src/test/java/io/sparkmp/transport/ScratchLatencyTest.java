package io.sparkmp.transport;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;

class ScratchLatencyTest {
    static final int N = 3000;

    static String pct(long[] ns) {
        long[] s = ns.clone(); Arrays.sort(s);
        return String.format("median %.1f us p90 %.1f", s[s.length / 2] / 1e3, s[(int) (s.length * 0.9)] / 1e3);
    }

    static long[] rawPing(boolean selector) throws Exception {
        try (ServerSocketChannel server = ServerSocketChannel.open()) {
            server.bind(new InetSocketAddress("127.0.0.1", 0));
            CompletableFuture<Void> echo = CompletableFuture.runAsync(() -> {
                try (SocketChannel s = server.accept()) {
                    s.setOption(java.net.StandardSocketOptions.TCP_NODELAY, true);
                    Wire w = selector ? new NioWire(s) : null;
                    ByteBuffer b = ByteBuffer.allocateDirect(4096);
                    for (int i = 0; i < N; i++) {
                        b.clear();
                        if (selector) { Wire.readFully(w, b, 5000, "x"); } else { while (b.hasRemaining()) s.read(b); }
                        b.flip();
                        if (selector) { w.write(new ByteBuffer[]{b}, 5000); } else { while (b.hasRemaining()) s.write(b); }
                    }
                } catch (Exception e) { throw new RuntimeException(e); }
            });
            long[] rtt = new long[N];
            try (SocketChannel s = SocketChannel.open(server.getLocalAddress())) {
                s.setOption(java.net.StandardSocketOptions.TCP_NODELAY, true);
                Wire w = selector ? new NioWire(s) : null;
                ByteBuffer b = ByteBuffer.allocateDirect(4096);
                for (int i = 0; i < N; i++) {
                    long t0 = System.nanoTime();
                    b.clear();
                    if (selector) { w.write(new ByteBuffer[]{b}, 5000); } else { while (b.hasRemaining()) s.write(b); }
                    b.clear();
                    if (selector) { Wire.readFully(w, b, 5000, "x"); } else { while (b.hasRemaining()) s.read(b); }
                    rtt[i] = System.nanoTime() - t0;
                }
            }
            echo.get();
            return rtt;
        }
    }

    static long[] chanPing(List<SocketTensorChannel> c, long base) throws Exception {
        INDArray small = Nd4j.rand(DataType.FLOAT, 1024);
        INDArray reply = Nd4j.rand(DataType.FLOAT, 1024);
        CompletableFuture<Void> echo = CompletableFuture.runAsync(() -> {
            for (int i = 0; i < N; i++) {
                INDArray got = c.get(1).receive(0, Loopback.key(base + i, 0));
                c.get(1).send(0, new TensorKey(FrameType.GRADIENT, base + i, 0, 1, 0), reply);
                c.get(1).recycle(got);
            }
        });
        long[] rtt = new long[N];
        for (int i = 0; i < N; i++) {
            long t0 = System.nanoTime();
            c.get(0).send(1, Loopback.key(base + i, 0), small);
            INDArray back = c.get(0).receive(1, new TensorKey(FrameType.GRADIENT, base + i, 0, 1, 0));
            rtt[i] = System.nanoTime() - t0;
            c.get(0).recycle(back);
        }
        echo.get();
        return rtt;
    }

    @Test
    void latency() throws Exception {
        List<SocketTensorChannel> c = Loopback.mesh(2, Loopback.config("lat"));
        try {
            for (int round = 0; round < 3; round++) {
                System.out.println("LAT raw blocking " + pct(rawPing(false)));
                System.out.println("LAT raw selector " + pct(rawPing(true)));
                System.out.println("LAT channel      " + pct(chanPing(c, round * 100_000L)));
            }
        } finally {
            Loopback.closeAll(c);
        }
    }
}
