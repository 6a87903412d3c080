package io.sparkmp.transport;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.nio.ByteBuffer;

/**
 * How a tensor goes on the wire: its frame header and its bytes as one direct buffer over its own memory
 * (no copy for a contiguous array; one copy for a view that is not; workspace arrays detached first).
 *
 * @param header the frame header (key, dtype, order, shape, byte length)
 * @param payload the bytes to write, null for an empty tensor
 * @param source the array that owns {@code payload}'s memory; it must stay alive (and unchanged) until written
 */
record TensorPayload(FrameHeader header, ByteBuffer payload, INDArray source) {

    /**
     * Encodes {@code tensor} for {@code key}; {@code sync} makes the host copy of the memory sent current first.
     *
     * @throws IllegalArgumentException for a dtype without a fixed width (UTF8)
     * @throws TransportException if the tensor exceeds {@code maxFrameBytes} or its memory is not one block
     */
    static TensorPayload of(TransportConfig config, TensorKey key, INDArray tensor, HostSync sync) {
        WireDataType dtype = WireDataType.of(tensor.dataType());
        INDArray a = tensor.isAttached() ? tensor.detach() : tensor;
        boolean empty = a.isEmpty();
        long elements = empty ? 0 : a.length();
        long bytes = elements * dtype.width;
        if (bytes > config.maxFrameBytes()) {
            throw new TransportException("tensor " + key + " of " + bytes + " bytes exceeds maxFrameBytes ("
                    + config.maxFrameBytes() + ")");
        }
        ByteBuffer payload = null;
        if (!empty) {
            payload = contiguousBytes(a, dtype, bytes, sync);
            if (payload == null) {
                a = a.dup(a.ordering());
                payload = contiguousBytes(a, dtype, bytes, sync);
                if (payload == null) {
                    throw new TransportException("cannot obtain the memory of " + key + " (" + a.shapeInfoToString()
                            + ") as one contiguous block");
                }
            }
        }
        FrameHeader h = FrameHeader.tensor(config.jobId(), key, dtype, a.ordering(), empty, a.shape(), bytes);
        return new TensorPayload(h, payload, a);
    }

    /**
     * {@code a}'s bytes as a direct buffer over its own host memory (position to limit), or null if not one block:
     * for a receive to write into, so no host copy is made current first (the reader marks the device copy stale
     * after filling it).
     */
    static ByteBuffer memoryOf(INDArray a) {
        WireDataType dtype = WireDataType.of(a.dataType());
        return contiguousBytes(a, dtype, a.length() * dtype.width, HostSync.NONE);
    }

    /** The array's bytes as a direct buffer over its own (current) host memory, or null if not one block. */
    private static ByteBuffer contiguousBytes(INDArray a, WireDataType dtype, long bytes, HostSync sync) {
        if (!hasDefaultStrides(a)) {
            return null;
        }
        sync.beforeHostRead(a);
        ByteBuffer all = a.data().asNio();
        long start = a.offset() * dtype.width;
        if (all == null || start + bytes > all.capacity()) {
            return null;
        }
        ByteBuffer b = all.duplicate();
        b.limit((int) (start + bytes)).position((int) start);
        return b;
    }

    /** Whether {@code a}'s strides are the dense ones of its order (size-1 dimensions may have any stride). */
    static boolean hasDefaultStrides(INDArray a) {
        char order = a.ordering();
        if (order != 'c' && order != 'f') {
            return false;
        }
        long[] shape = a.shape();
        long[] stride = a.stride();
        long expected = 1;
        for (int k = 0; k < shape.length; k++) {
            int i = order == 'c' ? shape.length - 1 - k : k;
            if (shape[i] != 1 && stride[i] != expected) {
                return false;
            }
            expected *= shape[i];
        }
        return true;
    }
}
