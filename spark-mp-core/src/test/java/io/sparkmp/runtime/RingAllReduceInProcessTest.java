package io.sparkmp.runtime;

import io.sparkmp.transport.ForwardingChannel;
import io.sparkmp.transport.FrameType;
import io.sparkmp.transport.RingAllReduce;
import io.sparkmp.transport.RingSums;
import io.sparkmp.transport.TensorChannel;
import io.sparkmp.transport.TensorKey;
import io.sparkmp.transport.TransportException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Ring all-reduce over the in-process channel, which passes tensors by reference: the same fixed-order sum as
 * over sockets, and the closing acknowledgement keeps a member from returning while its neighbour still reads
 * its vector.
 */
class RingAllReduceInProcessTest {

    @ParameterizedTest(name = "R = {0}")
    @ValueSource(ints = {1, 2, 3, 4})
    void inProcessRingEndsWithTheFixedOrderSumOnEveryMember(int members) throws Exception {
        List<InProcessChannel> chans = InProcessChannel.connect(members, Duration.ofSeconds(10));
        try {
            int[] ring = RingSums.permutedRing(members);
            long step = 0;
            for (DataType type : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
                for (int n : new int[] {1, members + 1, 7, 1001}) {
                    for (long pieceBytes : new long[] {24, RingAllReduce.DEFAULT_PIECE_BYTES}) {
                        INDArray[] x = RingSums.inputs(members, n, type, 17L * n + members);
                        double[] expected = RingSums.fixedOrderSum(x);
                        String what = "R " + members + ", " + type + ", n " + n + ", pieces " + pieceBytes + " B";
                        INDArray[] first = RingSums.reduceOnAll(chans, ring, x, pieceBytes, step, 0);
                        // Same step and tag again: allowed once the first reduction has returned everywhere.
                        INDArray[] again = RingSums.reduceOnAll(chans, ring, x, pieceBytes, step++, 0);
                        for (int q = 0; q < members; q++) {
                            RingSums.assertBits(expected, first[q], what + ", position " + q);
                            RingSums.assertBits(expected, again[q], what + ", repeated, position " + q);
                        }
                    }
                }
            }
        } finally {
            chans.get(0).closeAll();
        }
    }

    @Test
    void aSilentLeftNeighbourTimesOutNamingItsRankAndTheChunk() {
        List<InProcessChannel> chans = InProcessChannel.connect(2, Duration.ofSeconds(30));
        try {
            RingAllReduce ring = new RingAllReduce(chans.get(1), new int[] {0, 1}, 200);
            INDArray v = Nd4j.ones(DataType.DOUBLE, 8); // before the clock starts: the first array loads ND4J
            long t0 = System.nanoTime();
            TransportException e = assertThrows(TransportException.class, () -> ring.sumInPlace(v, 7, 1));
            long waitedMs = (System.nanoTime() - t0) / 1_000_000;
            assertEquals("ring all-reduce (step 7, tag 1, ring [0, 1]): rank 1 got no reduce-scatter chunk 1 (piece 0"
                    + " of 1) from rank 0 (left neighbour) within 200 ms: rank 1 timed out after 200 ms waiting for"
                    + " ALLREDUCE[step 7, tag 1, round 2, piece 0] from rank 0", e.getMessage());
            // The ring's own timeout, not the channel's 30 s.
            assertTrue(waitedMs < 10_000, "waited " + waitedMs + " ms");
        } finally {
            chans.get(0).closeAll();
        }
    }
    @Test
    void aMemberReturnsOnlyAfterItsNeighbourTookItsPieces() throws Exception {
        List<InProcessChannel> chans = InProcessChannel.connect(2, Duration.ofSeconds(10));
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            int[] ring = {0, 1};
            INDArray v0 = Nd4j.createFromArray(1.0, 2.0, 3.0, 4.0);
            INDArray v1 = Nd4j.createFromArray(10.0, 20.0, 30.0, 40.0);
            // Rank 1 is slow to take its all-gather pieces, which are views of rank 0's vector; rank 0 overwrites
            // its vector as soon as it returns, as an updater would.
            TensorChannel slow = new SlowAllGather(chans.get(1), 300);
            Future<?> f0 = pool.submit(() -> {
                new RingAllReduce(chans.get(0), ring, 10_000).sumInPlace(v0, 0, 0);
                v0.assign(Double.NaN);
            });
            Future<?> f1 = pool.submit(() -> new RingAllReduce(slow, ring, 10_000).sumInPlace(v1, 0, 0));
            f0.get(30, TimeUnit.SECONDS);
            f1.get(30, TimeUnit.SECONDS);
            assertArrayEquals(new double[] {11, 22, 33, 44}, v1.toDoubleVector());
        } finally {
            pool.shutdownNow();
            chans.get(0).closeAll();
        }
    }

    /** Delays every all-gather receive (odd rounds of {@link FrameType#ALLREDUCE} keys) of one member. */
    private static final class SlowAllGather extends ForwardingChannel {
        private final long delayMillis;

        SlowAllGather(TensorChannel inner, long delayMillis) {
            super(inner);
            this.delayMillis = delayMillis;
        }

        @Override
        public INDArray receive(int peerRank, TensorKey key, long timeoutMillis) {
            if (key.type() == FrameType.ALLREDUCE && key.sourceStage() % 2 == 1) {
                try {
                    Thread.sleep(delayMillis);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            return inner.receive(peerRank, key, timeoutMillis);
        }
    }
}
