package io.sparkmp.transport;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * Reusable receive arrays, by dtype, order and shape: allocating a large ND4J array costs far more than
 * filling it from a socket, so arrays handed back through {@code recycle} are filled again. Thread-safe;
 * bounded by {@code maxPooledBytes} (arrays beyond it are left to the garbage collector). Fresh arrays are
 * allocated on the task's device whichever thread asks (a link's reader thread or the task itself): the pool's
 * {@link HostSync} binds the allocating thread first.
 */
class ReceivePool {
    private record Shape(WireDataType dtype, char order, long[] dims) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Shape s && s.dtype == dtype && s.order == order && Arrays.equals(s.dims, dims);
        }

        @Override
        public int hashCode() {
            return (dtype.hashCode() * 31 + order) * 31 + Arrays.hashCode(dims);
        }
    }

    private final long maxPooledBytes;
    private final HostSync sync;
    private final Map<Shape, ArrayDeque<INDArray>> free = new HashMap<>();
    private long pooledBytes;

    /** A pool for the backend's {@link HostSync#forBackend()}, bound to the calling thread's device. */
    ReceivePool(long maxPooledBytes) {
        this(maxPooledBytes, HostSync.forBackend());
    }

    ReceivePool(long maxPooledBytes, HostSync sync) {
        this.maxPooledBytes = maxPooledBytes;
        this.sync = sync;
    }

    /** How the channel's users of host buffers keep them in step with the device. */
    HostSync sync() {
        return sync;
    }

    /** An array of that exact type and shape with undefined contents; {@code byteLength} is already checked. */
    INDArray take(WireDataType dtype, char order, long[] shape, boolean empty, long byteLength) {
        if (empty) {
            sync.enterDevice();
            return shape.length == 0 ? Nd4j.empty(dtype.nd4j) : Nd4j.create(dtype.nd4j, shape, order);
        }
        synchronized (this) {
            ArrayDeque<INDArray> q = free.get(new Shape(dtype, order, shape));
            if (q != null && !q.isEmpty()) {
                pooledBytes -= byteLength;
                return q.pop();
            }
        }
        sync.enterDevice();
        return allocate(dtype, order, shape, byteLength);
    }

    /** Allocates a fresh array; a seam for tests that watch allocations. */
    INDArray allocate(WireDataType dtype, char order, long[] shape, long byteLength) {
        return Nd4j.createUninitializedDetached(dtype.nd4j, order, shape);
    }

    /** Keeps {@code a} for reuse when it is a plain, whole, detached array and the pool has room. */
    void recycle(INDArray a) {
        if (a == null || a.isEmpty() || a.isView() || a.isAttached() || a.offset() != 0
                || a.data().length() != a.length()) {
            return;
        }
        WireDataType dtype;
        try {
            dtype = WireDataType.of(a.dataType());
        } catch (IllegalArgumentException e) {
            return;
        }
        if (!TensorPayload.hasDefaultStrides(a)) {
            return;
        }
        long bytes = a.length() * dtype.width;
        synchronized (this) {
            if (pooledBytes + bytes > maxPooledBytes) {
                return;
            }
            pooledBytes += bytes;
            free.computeIfAbsent(new Shape(dtype, a.ordering(), a.shape()), k -> new ArrayDeque<>()).push(a);
        }
    }

    synchronized void clear() {
        free.clear();
        pooledBytes = 0;
    }
}
