package io.sparkmp.transport;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Ring all-reduce over real loopback sockets: the fixed-order sum, bit-identical on every member, and its failures. */
class RingAllReduceTest {
    private static final DataType[] TYPES = {DataType.FLOAT, DataType.DOUBLE};

    /** Lengths below R, not divisible by R, and long enough for many pieces of 64 bytes. */
    private static int[] lengths(int members) {
        return new int[] {1, members + 1, 7, 1001};
    }

    @ParameterizedTest(name = "R = {0}")
    @ValueSource(ints = {1, 2, 3, 4})
    void socketRingEndsWithTheFixedOrderSumOnEveryMember(int members) throws Exception {
        List<SocketTensorChannel> chans = Loopback.mesh(members, Loopback.config("ring-" + members));
        try {
            int[] ring = RingSums.permutedRing(members);
            long step = 0;
            for (DataType type : TYPES) {
                for (int n : lengths(members)) {
                    for (long pieceBytes : new long[] {64, RingAllReduce.DEFAULT_PIECE_BYTES}) {
                        INDArray[] x = RingSums.inputs(members, n, type, 31L * n + members);
                        double[] expected = RingSums.fixedOrderSum(x);
                        String what = "R " + members + ", " + type + ", n " + n + ", pieces " + pieceBytes + " B";
                        INDArray[] first = RingSums.reduceOnAll(chans, ring, x, pieceBytes, step++, 0);
                        INDArray[] again = RingSums.reduceOnAll(chans, ring, x, pieceBytes, step++, 3);
                        for (int q = 0; q < members; q++) {
                            RingSums.assertBits(expected, first[q], what + ", position " + q);
                            RingSums.assertBits(expected, again[q], what + ", repeated, position " + q);
                        }
                    }
                }
            }
        } finally {
            Loopback.closeAll(chans);
        }
    }

    @Test
    void aTlsRingGivesTheSameBits(@TempDir Path dir) throws Exception {
        TlsSettings tls = TlsSettings.sharedPkcs12(TlsTest.selfSigned(dir, "ring"), TlsTest.PASSWORD);
        TransportConfig c = Loopback.builder("ring-tls").tls(tls).connectTimeout(Duration.ofSeconds(10)).build();
        List<SocketTensorChannel> chans = Loopback.mesh(3, c);
        try {
            INDArray[] x = RingSums.inputs(3, 1001, DataType.FLOAT, 5);
            INDArray[] got = RingSums.reduceOnAll(chans, RingSums.permutedRing(3), x, 256, 0, 0);
            for (int q = 0; q < 3; q++) {
                RingSums.assertBits(RingSums.fixedOrderSum(x), got[q], "TLS, position " + q);
            }
        } finally {
            Loopback.closeAll(chans);
        }
    }

    @Test
    void theFixedOrderIsVisibleInTheBits() {
        // Guards the test above: with these inputs another summation order gives other bits.
        for (int members : new int[] {3, 4}) {
            INDArray[] x = RingSums.inputs(members, 1001, DataType.FLOAT, 31L * 1001 + members);
            assertFalse(Arrays.equals(RingSums.fixedOrderSum(x), RingSums.positionOrderSum(x)), "R " + members);
        }
    }

    @Test
    void reductionsWithDifferentTagsRunConcurrently() throws Exception {
        onMesh(3, "ring-tags", (chans, pool) -> {
            int[] ring = {0, 1, 2};
            INDArray[] a = RingSums.inputs(3, 500, DataType.DOUBLE, 1);
            INDArray[] b = RingSums.inputs(3, 300, DataType.DOUBLE, 2);
            Future<INDArray[]> fa = pool.submit(() -> RingSums.reduceOnAll(chans, ring, a, 64, 9, 0));
            Future<INDArray[]> fb = pool.submit(() -> RingSums.reduceOnAll(chans, ring, b, 64, 9, 1));
            INDArray[] ra = fa.get(60, TimeUnit.SECONDS);
            INDArray[] rb = fb.get(60, TimeUnit.SECONDS);
            for (int q = 0; q < 3; q++) {
                RingSums.assertBits(RingSums.fixedOrderSum(a), ra[q], "tag 0, position " + q);
                RingSums.assertBits(RingSums.fixedOrderSum(b), rb[q], "tag 1, position " + q);
            }
        });
    }

    @Test
    void aRowVectorIsSummedInItsOwnMemory() throws Exception {
        onMesh(2, "ring-row", (chans, pool) -> {
            int[] ring = {0, 1};
            // DL4J's gradient view: a [1, n] row in 'f' order.
            INDArray row0 = Nd4j.createFromArray(new double[][] {{1, 2, 3, 4, 5}}).dup('f');
            INDArray row1 = Nd4j.createFromArray(new double[][] {{10, 20, 30, 40, 50}}).dup('f');
            Future<?> f0 = reduce(pool, chans.get(0), ring, 10_000, row0, 0, 0);
            Future<?> f1 = reduce(pool, chans.get(1), ring, 10_000, row1, 0, 0);
            f0.get(30, TimeUnit.SECONDS);
            f1.get(30, TimeUnit.SECONDS);
            assertArrayEquals(new long[] {1, 5}, row0.shape());
            assertArrayEquals(new double[] {11, 22, 33, 44, 55}, row0.toDoubleVector());
            assertArrayEquals(new double[] {11, 22, 33, 44, 55}, row1.toDoubleVector());
        });
    }

    @Test
    void oneLayersPartOfAFlatGradientIsSummedWhereItLies() throws Exception {
        onMesh(2, "ring-layer", (chans, pool) -> {
            int[] ring = {0, 1};
            // A per-layer gradient: elements 5..11 of a [1, 20] flat gradient, a view at an offset.
            INDArray flat0 = Nd4j.arange(0, 20).castTo(DataType.FLOAT).reshape(1, 20);
            INDArray flat1 = Nd4j.arange(100, 120).castTo(DataType.FLOAT).reshape(1, 20);
            INDArray layer0 = flat0.get(NDArrayIndex.point(0), NDArrayIndex.interval(5, 12));
            INDArray layer1 = flat1.get(NDArrayIndex.point(0), NDArrayIndex.interval(5, 12));
            Future<?> f0 = reduce(pool, chans.get(0), ring, 10_000, layer0, 1, 4);
            Future<?> f1 = reduce(pool, chans.get(1), ring, 10_000, layer1, 1, 4);
            f0.get(30, TimeUnit.SECONDS);
            f1.get(30, TimeUnit.SECONDS);
            float[] want0 = new float[20];
            float[] want1 = new float[20];
            for (int i = 0; i < 20; i++) {
                boolean inLayer = i >= 5 && i < 12;
                want0[i] = inLayer ? 2 * i + 100 : i;
                want1[i] = inLayer ? 2 * i + 100 : 100 + i;
            }
            assertArrayEquals(want0, flat0.toFloatVector());
            assertArrayEquals(want1, flat1.toFloatVector());
        });
    }

    @Test
    void overSocketsEveryAllGatherPieceLandsInPlace() throws Exception {
        onMesh(3, "ring-landing", (chans, pool) -> {
            int[] ring = {0, 1, 2};
            List<Landed> counted = List.of(new Landed(chans.get(0)), new Landed(chans.get(1)), new Landed(chans.get(2)));
            INDArray[] x = RingSums.inputs(3, 1001, DataType.DOUBLE, 8);
            INDArray[] got = RingSums.reduceOnAll(counted, ring, x, 400, 0, 0);
            for (int q = 0; q < 3; q++) {
                RingSums.assertBits(RingSums.fixedOrderSum(x), got[q], "position " + q);
                // Member q receives every chunk but its own: 2 chunks of 333 or 334 doubles, 50 per 400-byte piece.
                assertEquals(14, counted.get(q).named, "named at position " + q);
                assertEquals(14, counted.get(q).inPlace, "landed in place at position " + q);
            }
        });
    }

    @Test
    void aMemberThatNeverSendsFailsItsLeftNeighbourNamingIt() throws Exception {
        onMesh(3, "ring-silent", (chans, pool) -> {
            int[] ring = {0, 1, 2}; // rank 2 never takes part; rank 0 waits for it
            Future<?> f0 = reduce(pool, chans.get(0), ring, 300, Nd4j.ones(DataType.FLOAT, 30), 4, 2);
            Future<?> f1 = reduce(pool, chans.get(1), ring, 300, Nd4j.ones(DataType.FLOAT, 30), 4, 2);
            Exception e = assertThrows(Exception.class, () -> f0.get(30, TimeUnit.SECONDS));
            assertSame(TransportException.class, e.getCause().getClass());
            String m = e.getCause().getMessage();
            assertTrue(m.contains("rank 0 got no reduce-scatter chunk 1 (piece 0 of 1) from rank 2"), m);
            assertTrue(m.contains("within 300 ms"), m);
            assertTrue(m.contains("timed out after 300 ms"), m); // the ring's timeout, not the channel's 10 s
            assertTrue(m.contains("step 4, tag 2"), m);
            Exception e1 = assertThrows(Exception.class, () -> f1.get(30, TimeUnit.SECONDS));
            assertTrue(e1.getCause().getMessage().contains("from rank 0"), e1.getCause().getMessage());
        });
    }

    @Test
    void vectorsOfDifferentLengthsFailNamingBoth() throws Exception {
        onMesh(2, "ring-lengths", (chans, pool) -> {
            int[] ring = {0, 1};
            Future<?> f0 = reduce(pool, chans.get(0), ring, 2_000, Nd4j.ones(DataType.FLOAT, 10), 0, 0);
            Future<?> f1 = reduce(pool, chans.get(1), ring, 2_000, Nd4j.ones(DataType.FLOAT, 12), 0, 0);
            // Rank 0 cuts 10 into chunks of 5, rank 1 cuts 12 into chunks of 6: each sees the other's first piece.
            Exception e0 = assertThrows(Exception.class, () -> f0.get(30, TimeUnit.SECONDS));
            Exception e1 = assertThrows(Exception.class, () -> f1.get(30, TimeUnit.SECONDS));
            assertEquals("ring all-reduce (step 0, tag 0, ring [0, 1]): rank 0 got reduce-scatter chunk 0 piece 0 with"
                    + " 6 FLOAT from rank 1, expected 5 FLOAT (every member must reduce a vector of 10 FLOAT)",
                    e0.getCause().getMessage());
            assertEquals("ring all-reduce (step 0, tag 0, ring [0, 1]): rank 1 got reduce-scatter chunk 1 piece 0 with"
                    + " 5 FLOAT from rank 0, expected 6 FLOAT (every member must reduce a vector of 12 FLOAT)",
                    e1.getCause().getMessage());
        });
    }

    @Test
    void chunkStartCutsIntoNearlyEqualChunks() {
        assertEquals(0, RingAllReduce.chunkStart(10, 3, 0));
        assertEquals(3, RingAllReduce.chunkStart(10, 3, 1));
        assertEquals(6, RingAllReduce.chunkStart(10, 3, 2));
        assertEquals(10, RingAllReduce.chunkStart(10, 3, 3));
        assertEquals(0, RingAllReduce.chunkStart(2, 4, 1)); // n < R: chunks 0, 1 empty
        assertEquals(1, RingAllReduce.chunkStart(2, 4, 2));
        assertEquals(1, RingAllReduce.chunkStart(2, 4, 3));
        assertEquals(2, RingAllReduce.chunkStart(2, 4, 4));
        long big = Long.MAX_VALUE - 1;
        assertEquals(big / 7 * 3 + (big % 7) * 3 / 7, RingAllReduce.chunkStart(big, 7, 3)); // no overflow
        assertEquals(big, RingAllReduce.chunkStart(big, 7, 7));
        assertThrows(IllegalArgumentException.class, () -> RingAllReduce.chunkStart(10, 3, 4));
        assertThrows(IllegalArgumentException.class, () -> RingAllReduce.chunkStart(10, 0, 0));
    }

    @Test
    void pieceElementsAreAtLeastOne() {
        assertEquals(16, RingAllReduce.pieceElements(64, DataType.FLOAT));
        assertEquals(8, RingAllReduce.pieceElements(64, DataType.DOUBLE));
        assertEquals(1, RingAllReduce.pieceElements(3, DataType.DOUBLE));
    }

    @Test
    void badRingsAndVectorsAreRejectedNamingTheValue() {
        TensorChannel rank1 = new RankOnly(1);
        assertEquals("ringRanks [0, 2] does not contain this rank (1)", assertThrows(IllegalArgumentException.class,
                () -> new RingAllReduce(rank1, new int[] {0, 2}, 100)).getMessage());
        assertEquals("ringRanks names rank 0 twice: [0, 1, 0]", assertThrows(IllegalArgumentException.class,
                () -> new RingAllReduce(rank1, new int[] {0, 1, 0}, 100)).getMessage());
        assertEquals("ringRanks must be >= 0, found -1 in [1, -1]", assertThrows(IllegalArgumentException.class,
                () -> new RingAllReduce(rank1, new int[] {1, -1}, 100)).getMessage());
        assertEquals("ringRanks must name at least one rank, found []", assertThrows(IllegalArgumentException.class,
                () -> new RingAllReduce(rank1, new int[0], 100)).getMessage());
        assertEquals("timeoutMillis must be positive, found 0", assertThrows(IllegalArgumentException.class,
                () -> new RingAllReduce(rank1, new int[] {1}, 0)).getMessage());
        assertEquals("pieceBytes must be positive, found -4", assertThrows(IllegalArgumentException.class,
                () -> new RingAllReduce(rank1, new int[] {1}, 10, -4)).getMessage());
        RingAllReduce ring = new RingAllReduce(rank1, new int[] {0, 1}, 100);
        assertEquals(1, ring.position());
        assertEquals(2, ring.size());
        INDArray column = Nd4j.create(DataType.FLOAT, 3, 4).getColumn(1);
        assertEquals("flat must be a contiguous vector, found shape [3] with element stride 4",
                assertThrows(IllegalArgumentException.class, () -> ring.sumInPlace(column, 0, 0)).getMessage());
        assertEquals("flat must be a contiguous vector, found shape [3, 4] with element stride 1",
                assertThrows(IllegalArgumentException.class,
                        () -> ring.sumInPlace(Nd4j.create(DataType.FLOAT, 3, 4), 0, 0)).getMessage());
        assertEquals("flat must be numeric, found BOOL", assertThrows(IllegalArgumentException.class,
                () -> ring.sumInPlace(Nd4j.create(DataType.BOOL, 3), 0, 0)).getMessage());
        assertEquals("step and tag must be >= 0, found step 0, tag -1", assertThrows(IllegalArgumentException.class,
                () -> ring.sumInPlace(Nd4j.create(DataType.FLOAT, 3), 0, -1)).getMessage());
    }

    @Test
    void aRingOfOneLeavesTheVectorAsItIs() {
        INDArray v = Nd4j.createFromArray(1.5f, -2f, 3f);
        new RingAllReduce(new RankOnly(5), new int[] {5}, 100).sumInPlace(v, 0, 0);
        assertArrayEquals(new float[] {1.5f, -2f, 3f}, v.toFloatVector());
    }

    /** What a test does with {@code n} linked loopback ranks and a thread per rank. */
    private interface MeshBody {
        void run(List<SocketTensorChannel> chans, ExecutorService pool) throws Exception;
    }

    private static void onMesh(int n, String jobId, MeshBody body) throws Exception {
        List<SocketTensorChannel> chans = Loopback.mesh(n, Loopback.config(jobId));
        ExecutorService pool = Executors.newFixedThreadPool(n);
        try {
            body.run(chans, pool);
        } finally {
            pool.shutdownNow();
            Loopback.closeAll(chans);
        }
    }

    /** One member's reduction, on its own thread. */
    private static Future<?> reduce(ExecutorService pool, TensorChannel channel, int[] ring, long timeoutMillis,
                                    INDArray flat, long step, int tag) {
        return pool.submit(() -> new RingAllReduce(channel, ring, timeoutMillis).sumInPlace(flat, step, tag));
    }

    /** Counts the arrays named for in-place receiving and the receives that returned them. */
    private static final class Landed extends ForwardingChannel {
        private final java.util.Set<INDArray> names = java.util.Collections.newSetFromMap(
                new java.util.IdentityHashMap<>());
        private volatile int named;
        private volatile int inPlace;

        Landed(TensorChannel inner) {
            super(inner);
        }

        @Override
        public synchronized void expectInto(int peerRank, TensorKey key, INDArray destination) {
            names.add(destination);
            named++;
            inner.expectInto(peerRank, key, destination);
        }

        @Override
        public INDArray receive(int peerRank, TensorKey key, long timeoutMillis) {
            INDArray got = inner.receive(peerRank, key, timeoutMillis);
            synchronized (this) {
                if (names.contains(got)) {
                    inPlace++;
                }
            }
            return got;
        }
    }

    /** A channel that only knows its rank: anything sent or received is a test failure. */
    private record RankOnly(int localRank) implements TensorChannel {
        @Override
        public void send(int peerRank, TensorKey key, INDArray tensor) {
            throw new AssertionError("unexpected send of " + key + " to rank " + peerRank);
        }

        @Override
        public INDArray receive(int peerRank, TensorKey key) {
            throw new AssertionError("unexpected receive of " + key + " from rank " + peerRank);
        }

        @Override
        public void close() {
        }
    }
}
