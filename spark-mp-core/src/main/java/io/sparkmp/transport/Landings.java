package io.sparkmp.transport;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Arrays that a receiver named in advance for frames of one link ({@link TensorChannel#expectInto}): the frame
 * with that key is read straight into the array's memory instead of a pooled array, saving the receiver's copy.
 * Thread-safe; the reading thread claims an array when the frame's header has been checked.
 */
final class Landings {
    private final ConcurrentHashMap<TensorKey, INDArray> byKey = new ConcurrentHashMap<>();

    /** Names {@code destination} for the frame {@code key}; arrays whose memory is not one dense block are ignored. */
    void expect(TensorKey key, INDArray destination) {
        if (destination.isEmpty() || destination.isAttached() || TensorPayload.memoryOf(destination) == null) {
            return;
        }
        byKey.put(key, destination);
    }

    /**
     * The array named for this (already validated) frame, when its type and shape are the frame's; null
     * otherwise, and the frame goes into a pooled array.
     */
    INDArray claim(FrameHeader h) {
        if (byKey.isEmpty()) {
            return null;
        }
        INDArray a = byKey.remove(FrameCodec.keyOf(h));
        if (a == null || (h.flags & FrameHeader.FLAG_EMPTY) != 0 || a.dataType() != WireDataType.fromId(h.dataTypeId).nd4j
                || !Arrays.equals(a.shape(), h.shape)) {
            return null;
        }
        return a;
    }

    /** Drops the name for {@code key} (its frame was filed before it was named, or was taken). */
    void forget(TensorKey key) {
        if (!byKey.isEmpty()) {
            byKey.remove(key);
        }
    }

    void clear() {
        byKey.clear();
    }
}
