package io.sparkmp.transport;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.UnaryOperator;

/** Shared fixtures: loopback configs with short timeouts and fully connected groups of channels. */
final class Loopback {
    static final byte[] SECRET = "0123456789abcdef0123456789abcdef".getBytes();

    private Loopback() {
    }

    static TransportConfig.Builder builder(String jobId) {
        return TransportConfig.builder(jobId, SECRET).bindHost("127.0.0.1");
    }

    /** Short timeouts: a failure shows up in seconds, not minutes. */
    static TransportConfig config(String jobId) {
        return builder(jobId).connectTimeout(Duration.ofSeconds(10)).receiveTimeout(Duration.ofSeconds(10))
                .sendTimeout(Duration.ofSeconds(10)).readTimeout(Duration.ofSeconds(5))
                .idleTimeout(Duration.ofSeconds(10)).closeTimeout(Duration.ofSeconds(2)).build();
    }

    /** Opens {@code n} ranks and links every pair; closes them all if linking fails. */
    static List<SocketTensorChannel> mesh(int n, UnaryOperator<TransportConfig> perRank, TransportConfig config)
            throws Exception {
        List<SocketTensorChannel> chans = new ArrayList<>();
        try {
            for (int r = 0; r < n; r++) {
                chans.add(SocketTensorChannel.open(perRank.apply(config), r));
            }
            ExecutorService pool = Executors.newFixedThreadPool(n);
            try {
                List<Future<?>> fs = new ArrayList<>();
                for (int r = 0; r < n; r++) {
                    Map<Integer, InetSocketAddress> peers = new HashMap<>();
                    for (int p = 0; p < n; p++) {
                        if (p != r) {
                            peers.put(p, chans.get(p).localAddress());
                        }
                    }
                    SocketTensorChannel c = chans.get(r);
                    fs.add(pool.submit(() -> c.connect(peers)));
                }
                for (Future<?> f : fs) {
                    f.get();
                }
            } finally {
                pool.shutdownNow();
            }
            return chans;
        } catch (Exception e) {
            closeAll(chans);
            throw e;
        }
    }

    static List<SocketTensorChannel> mesh(int n, TransportConfig config) throws Exception {
        return mesh(n, c -> c, config);
    }

    static void closeAll(List<? extends TensorChannel> chans) {
        for (TensorChannel c : chans) {
            c.close();
        }
    }

    static TensorKey key(long step, int microBatch) {
        return new TensorKey(FrameType.ACTIVATION, step, microBatch, 0, 1);
    }
}
