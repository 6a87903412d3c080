package io.sparkmp.transport;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.Condition;

/**
 * The frames received from one peer, filed by key until a receiver takes them, and the receivers waiting for
 * them: whoever reads the socket files a frame here and wakes them. Runs under the link's lock.
 */
final class Mailbox {
    private final LinkState state;
    private final Map<TensorKey, ArrayDeque<INDArray>> held = new HashMap<>();
    private final Condition arrived;

    Mailbox(LinkState state) {
        this.state = state;
        this.arrived = state.newCondition();
    }

    /** The oldest frame with exactly {@code key}, or null; with the lock held. */
    INDArray take(TensorKey key) {
        ArrayDeque<INDArray> q = held.get(key);
        if (q == null) {
            return null;
        }
        INDArray a = q.pollFirst();
        if (q.isEmpty()) {
            held.remove(key);
        }
        return a;
    }

    /**
     * Files a frame read off the wire (takes the lock): a tensor under its key, a goodbye as the peer's close;
     * heartbeats only prove the peer alive and are dropped.
     *
     * @return whether the frame was the peer's goodbye
     */
    boolean file(FrameReader.Frame f) {
        int type = f.header().messageType;
        if (type == FrameHeader.MSG_HEARTBEAT) {
            return false;
        }
        state.lock.lock();
        try {
            if (type == FrameHeader.MSG_GOODBYE) {
                state.peerClosed = true;
            } else {
                held.computeIfAbsent(FrameCodec.keyOf(f.header()), k -> new ArrayDeque<>(2)).addLast(f.tensor());
            }
            arrived.signalAll();
            return type == FrameHeader.MSG_GOODBYE;
        } finally {
            state.lock.unlock();
        }
    }

    /** Waits until a frame is filed, the read token comes free or the link ends; with the lock held. */
    void await(long nanos) throws InterruptedException {
        arrived.awaitNanos(nanos);
    }

    /** Wakes the waiting receivers (the read token came free); with the lock held. */
    void signalReceivers() {
        arrived.signalAll();
    }

    /** Keys held, for error messages and diagnostics; with the lock held. */
    List<TensorKey> keys() {
        return new ArrayList<>(held.keySet());
    }

    /** Drops every held frame (close); with the lock held. */
    void clear() {
        held.clear();
    }
}
