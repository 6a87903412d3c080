package io.sparkmp.transport;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Eight ranks, every pair linked, all exchanging frames at once and asking for them out of order. */
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
}
