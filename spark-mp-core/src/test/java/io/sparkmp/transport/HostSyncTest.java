package io.sparkmp.transport;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.concurrency.AffinityManager;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.lang.reflect.Proxy;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the transport asks of {@link HostSync}, and in which order, at each place it touches host memory directly
 * (on CPU: a recording fake stands in for the device). Send: the host copy is made current before its bytes are
 * taken, on the array whose memory is sent. Receive: the host side is prepared before the fill and marked current
 * after it, on the array handed out. Allocation: the allocating thread is on the task's device first.
 * {@link AffinityHostSync} maps the calls onto ND4J's affinity manager.
 */
class HostSyncTest {
    /** Records calls; before a host read it writes {@code deviceValues} into the array, as a device copy would. */
    private static final class RecordingSync implements HostSync {
        final List<String> events = Collections.synchronizedList(new ArrayList<>());
        final List<INDArray> arrays = Collections.synchronizedList(new ArrayList<>());
        volatile double[] deviceValues;

        @Override
        public void beforeHostRead(INDArray a) {
            record("read", a);
            if (deviceValues != null) {
                a.assign(Nd4j.createFromArray(deviceValues).reshape(a.shape()));
            }
        }

        @Override
        public void beforeHostWrite(INDArray a) {
            record("beginWrite " + java.util.Arrays.toString(a.toDoubleVector()), a);
        }

        @Override
        public void afterHostWrite(INDArray a) {
            record("endWrite " + java.util.Arrays.toString(a.toDoubleVector()), a);
        }

        @Override
        public void enterDevice() {
            events.add("enter@" + Thread.currentThread().getName());
        }

        private void record(String what, INDArray a) {
            synchronized (events) {
                events.add(what);
                arrays.add(a);
            }
        }
    }

    /** A pool that records on which thread each fresh array is allocated. */
    private static final class WatchedPool extends ReceivePool {
        final RecordingSync sync;

        WatchedPool(RecordingSync sync) {
            super(16L << 20, sync);
            this.sync = sync;
        }

        @Override
        INDArray allocate(WireDataType dtype, char order, long[] shape, long byteLength) {
            sync.events.add("alloc@" + Thread.currentThread().getName());
            return super.allocate(dtype, order, shape, byteLength);
        }
    }

    private static final TransportConfig CONFIG = Loopback.config("hostsync");
    private static final TensorKey KEY = Loopback.key(3, 1);

    @Test
    void sendTakesTheBytesAfterTheHostCopyIsMadeCurrent() {
        RecordingSync sync = new RecordingSync();
        INDArray a = Nd4j.createFromArray(1.0, 2.0, 3.0, 4.0).reshape(2, 2);
        sync.deviceValues = new double[] {10, 20, 30, 40}; // newer than the host copy
        TensorPayload p = TensorPayload.of(CONFIG, KEY, a, sync);
        assertEquals(List.of("read"), sync.events);
        assertSame(a, sync.arrays.get(0), "the contiguous array's own memory is sent");
        assertArrayEquals(new double[] {10, 20, 30, 40}, doubles(p.payload()), "the bytes are the current ones");
    }

    @Test
    void aViewIsCopiedAndTheCopyIsSynchronised() {
        RecordingSync sync = new RecordingSync();
        INDArray base = Nd4j.createFromArray(new double[][] {{1, 2, 3}, {4, 5, 6}});
        INDArray column = base.get(NDArrayIndex.all(), NDArrayIndex.point(1)); // strided: copied before sending
        TensorPayload p = TensorPayload.of(CONFIG, KEY, column, sync);
        assertEquals(List.of("read"), sync.events, "the view itself is not read from the host");
        assertFalse(sync.arrays.get(0).isView());
        assertSame(p.source(), sync.arrays.get(0), "the copy whose memory is sent is the one synchronised");
        assertArrayEquals(new double[] {2, 5}, doubles(p.payload()));
    }

    @Test
    void anEmptyTensorAsksNothing() {
        RecordingSync sync = new RecordingSync();
        TensorPayload.of(CONFIG, KEY, Nd4j.empty(DataType.DOUBLE), sync);
        assertEquals(List.of(), sync.events);
    }

    @Test
    void receiveMarksTheHostCurrentAfterTheFillAndAllocatesOnTheDevice() throws Exception {
        RecordingSync sync = new RecordingSync();
        WatchedPool pool = new WatchedPool(sync);
        SocketTensorChannel sender = SocketTensorChannel.open(CONFIG, 0, new ReceivePool(1 << 20, HostSync.NONE));
        SocketTensorChannel receiver = SocketTensorChannel.open(CONFIG, 1, pool);
        try {
            link(sender, receiver);
            sender.send(1, KEY, Nd4j.createFromArray(1.0, 2.0, 3.0));
            INDArray first = receiver.receive(0, KEY);
            List<String> fills = writes(sync.events);
            assertEquals(2, fills.size(), sync.events.toString());
            assertTrue(fills.get(0).startsWith("beginWrite"), fills.toString());
            assertEquals("endWrite [1.0, 2.0, 3.0]", fills.get(1), "marked current once it holds the payload");
            assertSame(first, sync.arrays.get(sync.arrays.size() - 1), "the array handed out is the one marked");

            receiver.recycle(first);
            sync.events.clear();
            sync.arrays.clear();
            TensorKey next = Loopback.key(4, 1);
            sender.send(1, next, Nd4j.createFromArray(7.0, 8.0, 9.0));
            INDArray second = receiver.receive(0, next);
            assertSame(first, second, "the pooled array is filled again");
            assertEquals(List.of("beginWrite [1.0, 2.0, 3.0]", "endWrite [7.0, 8.0, 9.0]"), writes(sync.events),
                    "prepared before the fill (old contents), marked after it (new contents)");
            assertArrayEquals(new double[] {7, 8, 9}, second.toDoubleVector());
        } finally {
            sender.close();
            receiver.close();
        }
        assertEveryAllocationEnteredTheDeviceFirst(sync.events);
    }

    @Test
    void aFreshArrayIsAllocatedOnlyAfterItsThreadEnteredTheDevice() throws Exception {
        RecordingSync sync = new RecordingSync();
        WatchedPool pool = new WatchedPool(sync);
        Thread t = new Thread(() -> pool.take(WireDataType.of(DataType.FLOAT), 'c', new long[] {2, 3}, false, 24),
                "link-reader-like");
        t.start();
        t.join(10_000);
        assertEquals(List.of("enter@link-reader-like", "alloc@link-reader-like"), sync.events);
    }

    @Test
    void affinitySyncMapsOntoNd4jsAffinityManager() {
        List<String> calls = new ArrayList<>();
        int[] threadDevice = {0};
        AffinityManager manager = (AffinityManager) Proxy.newProxyInstance(getClass().getClassLoader(),
                new Class<?>[] {AffinityManager.class}, (proxy, m, args) -> {
                    if (m.getName().equals("getDeviceForCurrentThread")) {
                        return threadDevice[0];
                    }
                    calls.add(m.getName() + (args == null ? "" : " " + args[args.length - 1]));
                    return null;
                });
        AffinityHostSync sync = new AffinityHostSync(manager, 3);
        INDArray a = Nd4j.createFromArray(1f, 2f);
        sync.beforeHostRead(a);
        sync.beforeHostWrite(a);
        sync.afterHostWrite(a);
        sync.enterDevice();
        threadDevice[0] = 3;
        sync.enterDevice(); // already there: nothing to do
        sync.beforeHostRead(Nd4j.empty(DataType.FLOAT)); // an empty array has no buffer to move
        assertEquals(List.of("ensureLocation HOST", "ensureLocation HOST", "tagLocation HOST", "unsafeSetDevice 3"),
                calls);
    }

    @Test
    void theCpuBackendNeedsNoSynchronisation() {
        assertSame(HostSync.NONE, HostSync.forBackend());
        assertSame(HostSync.NONE, new ReceivePool(1 << 20).sync());
    }

    private static void assertEveryAllocationEnteredTheDeviceFirst(List<String> events) {
        List<String> entered = new ArrayList<>();
        for (String e : events) {
            if (e.startsWith("enter@")) {
                entered.add(e.substring("enter@".length()));
            } else if (e.startsWith("alloc@")) {
                String thread = e.substring("alloc@".length());
                assertTrue(entered.contains(thread), thread + " allocated before entering the device: " + events);
            }
        }
    }

    private static List<String> writes(List<String> events) {
        synchronized (events) {
            return events.stream().filter(e -> e.contains("Write")).toList();
        }
    }

    private static double[] doubles(ByteBuffer payload) {
        ByteBuffer b = payload.duplicate().order(ByteOrder.nativeOrder());
        double[] out = new double[b.remaining() / 8];
        for (int i = 0; i < out.length; i++) {
            out[i] = b.getDouble();
        }
        return out;
    }

    private static void link(SocketTensorChannel a, SocketTensorChannel b) throws Exception {
        ExecutorService ex = Executors.newFixedThreadPool(2);
        try {
            InetSocketAddress aa = a.localAddress();
            InetSocketAddress ba = b.localAddress();
            Future<?> f1 = ex.submit(() -> a.connect(Map.of(1, ba)));
            Future<?> f2 = ex.submit(() -> b.connect(Map.of(0, aa)));
            f1.get();
            f2.get();
        } finally {
            ex.shutdownNow();
        }
    }
}
