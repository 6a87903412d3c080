package io.sparkmp.transport;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Eight ranks, every pair linked, all exchanging frames at once and asking for them out of order; and a chain
 * of three ranks linked only to their neighbours.
 */
class MeshTest {
    private static final int RANKS = 8;
    private static final int FRAMES = 30;

    private static float value(int src, int dst, int i) {
        return src * 10_000 + dst * 100 + i;
    }

    /** Mostly small frames, every seventh large enough to need many socket reads. */
    private static int length(int i) {
        return i % 7 == 3 ? 50_000 : 16 + i;
    }

    @Test
    void fullMeshExchangesFramesConcurrentlyInAnyOrder() throws Exception {
        List<SocketTensorChannel> chans = Loopback.mesh(RANKS, Loopback.config("mesh"));
        ExecutorService pool = Executors.newFixedThreadPool(RANKS + RANKS * (RANKS - 1));
        try {
            List<Future<Integer>> work = new ArrayList<>();
            for (int r = 0; r < RANKS; r++) {
                int src = r;
                work.add(pool.submit(() -> {
                    List<int[]> order = new ArrayList<>();
                    for (int p = 0; p < RANKS; p++) {
                        for (int i = 0; i < FRAMES; i++) {
                            if (p != src) {
                                order.add(new int[] {p, i});
                            }
                        }
                    }
                    Collections.shuffle(order, new Random(src));
                    for (int[] pi : order) {
                        INDArray t = Nd4j.valueArrayOf(new long[] {length(pi[1])}, value(src, pi[0], pi[1]),
                                DataType.FLOAT);
                        chans.get(src).send(pi[0], new TensorKey(FrameType.ACTIVATION, pi[1], 0, src, pi[0]), t);
                    }
                    return order.size();
                }));
                for (int p = 0; p < RANKS; p++) {
                    if (p == r) {
                        continue;
                    }
                    int dst = r;
                    int from = p;
                    work.add(pool.submit(() -> {
                        List<Integer> order = new ArrayList<>();
                        for (int i = 0; i < FRAMES; i++) {
                            order.add(i);
                        }
                        Collections.shuffle(order, new Random(31L * dst + from));
                        for (int i : order) {
                            INDArray got = chans.get(dst).receive(from,
                                    new TensorKey(FrameType.ACTIVATION, i, 0, from, dst));
                            assertEquals(length(i), got.length());
                            assertEquals(value(from, dst, i), got.getFloat(0), 0f);
                            assertEquals(value(from, dst, i), got.getFloat(got.length() - 1), 0f);
                            chans.get(dst).recycle(got);
                        }
                        return order.size();
                    }));
                }
            }
            int sent = 0;
            int received = 0;
            for (int k = 0; k < work.size(); k++) {
                int n = work.get(k).get(60, TimeUnit.SECONDS);
                if (k % RANKS == 0) {
                    sent += n;
                } else {
                    received += n;
                }
            }
            assertEquals(RANKS * (RANKS - 1) * FRAMES, sent);
            assertEquals(RANKS * (RANKS - 1) * FRAMES, received);
        } finally {
            pool.shutdownNow();
            Loopback.closeAll(chans);
        }
    }

    @Test
    void onlyNamedPeersAreLinkedAndAnUnlinkedRankFailsAtOnceNamingBothRanks() throws Exception {
        TransportConfig config = Loopback.config("chain");
        List<SocketTensorChannel> chans = new ArrayList<>();
        ExecutorService pool = Executors.newFixedThreadPool(3);
        try {
            for (int r = 0; r < 3; r++) {
                chans.add(SocketTensorChannel.open(config, r));
            }
            List<Future<?>> up = new ArrayList<>();
            up.add(pool.submit(() -> chans.get(0).connect(Map.of(1, chans.get(1).localAddress()))));
            up.add(pool.submit(() -> chans.get(1).connect(Map.of(0, chans.get(0).localAddress(),
                    2, chans.get(2).localAddress()))));
            up.add(pool.submit(() -> chans.get(2).connect(Map.of(1, chans.get(1).localAddress()))));
            for (Future<?> f : up) {
                f.get(30, TimeUnit.SECONDS);
            }
            INDArray t = Nd4j.ones(DataType.FLOAT, 4);
            chans.get(0).send(1, Loopback.key(0, 0), t);
            assertEquals(4, chans.get(1).receive(0, Loopback.key(0, 0)).length());

            long start = System.nanoTime();
            TransportException send = assertThrows(TransportException.class,
                    () -> chans.get(0).send(2, Loopback.key(0, 1), t));
            TransportException receive = assertThrows(TransportException.class,
                    () -> chans.get(2).receive(0, Loopback.key(0, 1)));
            assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(2), "unlinked ranks must fail at once");
            assertEquals("rank 0 has no link to rank 2 (linked: [1]); call connect with that peer first",
                    send.getMessage());
            assertEquals("rank 2 has no link to rank 0 (linked: [1]); call connect with that peer first",
                    receive.getMessage());
        } finally {
            pool.shutdownNow();
            Loopback.closeAll(chans);
        }
    }
}
