package io.sparkmp.transport;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every dtype, rank, order and view kind survives a trip over a real loopback link bit for bit. */
class RoundTripTest {
    private static List<SocketTensorChannel> chans;
    private static long step;

    @BeforeAll
    static void open() throws Exception {
        chans = Loopback.mesh(2, Loopback.config("roundtrip"));
    }

    @AfterAll
    static void close() {
        Loopback.closeAll(chans);
    }

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        DataType[] types = {DataType.FLOAT, DataType.DOUBLE, DataType.HALF, DataType.BFLOAT16, DataType.INT,
                DataType.LONG, DataType.SHORT, DataType.BYTE, DataType.UBYTE, DataType.BOOL};
        long[][] shapes = {{}, {1}, {7}, {3, 5}, {2, 3, 4}, {2, 1, 3, 2}, {1, 1}};
        for (DataType t : types) {
            for (long[] s : shapes) {
                for (char order : new char[] {'c', 'f'}) {
                    out.add(Arguments.of(t, s, order));
                }
            }
        }
        return out.stream();
    }

    /** Distinct, exactly representable values in every dtype (small integers; BOOL alternates). */
    static INDArray sample(DataType t, long[] shape, char order) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        int mod = t == DataType.BOOL ? 2 : t == DataType.BYTE || t == DataType.UBYTE ? 100 : Integer.MAX_VALUE;
        double[] v = new double[(int) n];
        for (int i = 0; i < n; i++) {
            v[i] = (i + 1) % mod;
        }
        INDArray base = shape.length == 0 ? Nd4j.scalar(v[0]) : Nd4j.create(v, shape, 'c');
        return base.castTo(t).dup(order);
    }

    private static INDArray trip(INDArray sent) {
        TensorKey key = Loopback.key(step++, 0);
        chans.get(0).send(1, key, sent);
        return chans.get(1).receive(0, key);
    }

    private static void assertSameTensor(INDArray expected, INDArray got) {
        assertEquals(expected.dataType(), got.dataType());
        assertArrayEquals(expected.shape(), got.shape());
        assertEquals(expected.isEmpty(), got.isEmpty());
        assertEquals(expected, got, () -> "values differ: " + expected + " vs " + got);
        // compare as doubles too: INDArray.equals uses a tolerance for floating types
        if (!expected.isEmpty() && expected.dataType() != DataType.BOOL) {
            assertArrayEquals(expected.castTo(DataType.DOUBLE).data().asDouble(),
                    got.dup('c').castTo(DataType.DOUBLE).data().asDouble(), 0.0);
        }
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("cases")
    void roundTrips(DataType t, long[] shape, char order) {
        INDArray sent = sample(t, shape, order);
        INDArray got = trip(sent);
        assertSameTensor(sent.dup('c'), got);
        assertEquals(sent.ordering(), got.ordering(), "contiguous arrays keep their order");
        chans.get(1).recycle(got);
    }

    @Test
    void emptyArraysOfAnyRank() {
        for (long[] shape : new long[][] {{0}, {0, 3}, {4, 0, 2}}) {
            INDArray sent = Nd4j.create(DataType.FLOAT, shape, 'c');
            INDArray got = trip(sent);
            assertTrue(got.isEmpty());
            assertArrayEquals(shape, got.shape());
            assertEquals(DataType.FLOAT, got.dataType());
        }
        INDArray got = trip(Nd4j.empty(DataType.LONG));
        assertTrue(got.isEmpty());
        assertEquals(0, got.rank());
        assertEquals(DataType.LONG, got.dataType());
    }

    @Test
    void viewsAreSentAsTheirOwnValues() {
        INDArray base = Nd4j.linspace(1, 60, 60, DataType.DOUBLE).reshape('c', 3, 4, 5);
        List<INDArray> views = List.of(
                base.get(NDArrayIndex.point(1), NDArrayIndex.all(), NDArrayIndex.all()), // contiguous, offset
                base.get(NDArrayIndex.all(), NDArrayIndex.interval(1, 3), NDArrayIndex.all()), // strided
                base.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(2)), // column
                base.permute(2, 0, 1), // permuted (not default strides)
                base.permute(2, 1, 0), // reads as 'f' contiguous
                base.getScalar(2, 3, 4), // rank-0 view with offset
                base.reshape('c', 12, 5).getRow(7));
        for (INDArray v : views) {
            INDArray got = trip(v);
            assertSameTensor(v.dup('c'), got);
        }
    }

    @Test
    void recycledArraysAreReusedForTheSameShape() {
        INDArray first = trip(sample(DataType.FLOAT, new long[] {64, 32}, 'c'));
        chans.get(1).recycle(first);
        INDArray second = trip(sample(DataType.FLOAT, new long[] {64, 32}, 'c').muli(2));
        assertSame(first, second, "the recycled array is filled again");
        assertEquals(4096f, second.getFloat(2047), 0f);
        INDArray other = trip(sample(DataType.FLOAT, new long[] {32, 64}, 'c'));
        assertNotSame(second, other, "another shape gets its own array");
    }

    @Test
    void workspaceArraysAreDetachedBeforeSending() {
        var ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace("rt-test");
        INDArray inWs;
        float[] expected;
        TensorKey key = Loopback.key(step++, 0);
        try {
            inWs = Nd4j.create(new float[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
            assertTrue(inWs.isAttached());
            expected = inWs.toFloatVector();
            chans.get(0).send(1, key, inWs);
        } finally {
            ws.close();
        }
        INDArray got = chans.get(1).receive(0, key);
        assertArrayEquals(expected, got.toFloatVector(), 0f);
        assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, expected, 0f);
    }

    /**
     * Receivers waiting at once on one link take turns reading the socket themselves: whoever reads files the
     * others' frames, including ones larger than the read-ahead buffer, and each gets exactly its own.
     */
    @Test
    void concurrentReceiversOnOneLinkEachGetTheirOwnFrame() throws Exception {
        int n = 6;
        long base = step;
        step += n;
        ExecutorService ex = Executors.newFixedThreadPool(n);
        try {
            List<Future<INDArray>> got = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                TensorKey k = Loopback.key(base + i, 0);
                got.add(ex.submit(() -> chans.get(1).receive(0, k)));
            }
            Thread.sleep(200); // all waiting: one holds the read token, the others wait for it or their frame
            for (int i = n - 1; i >= 0; i--) {
                chans.get(0).send(1, Loopback.key(base + i, 0), Nd4j.valueArrayOf(new long[] {length(i)}, (float) i));
            }
            for (int i = 0; i < n; i++) {
                INDArray a = got.get(i).get(10, TimeUnit.SECONDS);
                assertEquals(length(i), a.length());
                assertEquals(i, a.getFloat(0));
                assertEquals(i, a.getFloat(length(i) - 1));
            }
        } finally {
            ex.shutdownNow();
        }
    }

    /** An interrupted receive ends at once with its key in the message, also while it is reading the socket. */
    @Test
    void anInterruptedReceiveEndsAtOnce() throws Exception {
        TensorKey never = Loopback.key(step++, 0);
        Throwable[] seen = new Throwable[1];
        Thread t = new Thread(() -> {
            try {
                chans.get(1).receive(0, never);
            } catch (Throwable e) {
                seen[0] = e;
            }
        });
        t.start();
        Thread.sleep(200);
        long t0 = System.nanoTime();
        t.interrupt();
        t.join(5000);
        assertTrue(!t.isAlive(), "receive still running 5 s after interrupt");
        assertTrue(System.nanoTime() - t0 < 2_000_000_000L, "receive took over 2 s to notice the interrupt");
        assertTrue(seen[0] instanceof TransportException, String.valueOf(seen[0]));
        assertTrue(seen[0].getMessage().contains("interrupted while waiting for " + never), seen[0].getMessage());
        // the link still works afterwards
        INDArray sent = Nd4j.createFromArray(1f, 2f, 3f);
        assertSameTensor(sent, trip(sent));
    }

    private static long length(int i) {
        return i % 2 == 0 ? 100_000 : 10 + i;
    }
}
