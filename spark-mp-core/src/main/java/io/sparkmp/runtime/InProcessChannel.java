package io.sparkmp.runtime;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

import io.sparkmp.transport.TensorChannel;
import io.sparkmp.transport.TensorKey;
import io.sparkmp.transport.TransportException;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * {@link TensorChannel} between ranks that are threads of one JVM: one mailbox per rank, keyed by
 * (sender, {@link TensorKey}). Tensors are passed by reference (no copy), so the sender must not modify
 * a tensor after sending it, as the channel contract says.
 *
 * <p>A receive waits at most the timeout, then fails naming the peer and the key. Closing an endpoint
 * wakes every receive waiting on it or on a message from it; {@link #closeAll} stops a whole pipeline.
 */
final class InProcessChannel implements TensorChannel {

    private final int rank;
    private final Hub hub;

    private InProcessChannel(int rank, Hub hub) {
        this.rank = rank;
        this.hub = hub;
    }

    /**
     * {@code ranks} connected endpoints, index = rank.
     *
     * @param receiveTimeout longest wait of one receive
     */
    public static List<InProcessChannel> connect(int ranks, Duration receiveTimeout) {
        if (ranks <= 0) {
            throw new IllegalArgumentException("ranks must be positive, found " + ranks);
        }
        if (receiveTimeout == null || receiveTimeout.isNegative() || receiveTimeout.isZero()) {
            throw new IllegalArgumentException("receiveTimeout must be positive, found " + receiveTimeout);
        }
        Hub hub = new Hub(ranks, receiveTimeout.toNanos());
        List<InProcessChannel> out = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            out.add(new InProcessChannel(r, hub));
        }
        return List.copyOf(out);
    }

    /** Closes every endpoint of the set this channel belongs to (e.g. when one rank failed). */
    public void closeAll() {
        hub.closeAll();
    }

    @Override
    public int localRank() {
        return rank;
    }

    @Override
    public void send(int peerRank, TensorKey key, INDArray tensor) {
        hub.checkRank(peerRank);
        if (key == null || tensor == null) {
            throw new IllegalArgumentException("key and tensor must not be null");
        }
        hub.put(rank, peerRank, key, tensor);
    }

    @Override
    public INDArray receive(int peerRank, TensorKey key) {
        hub.checkRank(peerRank);
        if (key == null) {
            throw new IllegalArgumentException("key must not be null");
        }
        return hub.take(peerRank, rank, key, hub.timeoutNanos);
    }

    @Override
    public INDArray receive(int peerRank, TensorKey key, long timeoutMillis) {
        hub.checkRank(peerRank);
        if (key == null) {
            throw new IllegalArgumentException("key must not be null");
        }
        if (timeoutMillis <= 0) {
            throw new IllegalArgumentException("timeoutMillis must be positive, found " + timeoutMillis);
        }
        return hub.take(peerRank, rank, key, TimeUnit.MILLISECONDS.toNanos(timeoutMillis));
    }

    @Override
    public void close() {
        hub.close(rank);
    }

    private record Slot(int from, TensorKey key) {
    }

    private static final class Hub {
        private final ReentrantLock lock = new ReentrantLock();
        private final Condition changed = lock.newCondition();
        private final List<Map<Slot, INDArray>> mailboxes = new ArrayList<>();
        private final boolean[] closed;
        private final long timeoutNanos;

        Hub(int ranks, long timeoutNanos) {
            this.closed = new boolean[ranks];
            this.timeoutNanos = timeoutNanos;
            for (int r = 0; r < ranks; r++) {
                mailboxes.add(new HashMap<>());
            }
        }

        void checkRank(int r) {
            if (r < 0 || r >= closed.length) {
                throw new IllegalArgumentException("peer rank " + r + " is out of range [0, " + closed.length + ")");
            }
        }

        void put(int from, int to, TensorKey key, INDArray tensor) {
            lock.lock();
            try {
                if (closed[from]) {
                    throw new TransportException("rank " + from + " cannot send " + key + ": its channel is closed");
                }
                if (closed[to]) {
                    throw new TransportException("rank " + from + " cannot send " + key + " to rank " + to
                            + ": the peer's channel is closed");
                }
                if (mailboxes.get(to).putIfAbsent(new Slot(from, key), tensor) != null) {
                    throw new TransportException("rank " + from + " sent " + key + " to rank " + to + " twice");
                }
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }

        INDArray take(int from, int to, TensorKey key, long timeoutNanos) {
            Slot slot = new Slot(from, key);
            long deadline = System.nanoTime() + timeoutNanos;
            lock.lock();
            try {
                while (true) {
                    INDArray t = mailboxes.get(to).remove(slot);
                    if (t != null) {
                        return t;
                    }
                    if (closed[to]) {
                        throw new TransportException("rank " + to + " stopped waiting for " + key + " from rank " + from
                                + ": its channel was closed");
                    }
                    if (closed[from]) {
                        throw new TransportException("rank " + to + " waited for " + key + " from rank " + from
                                + ", but rank " + from + " closed its channel");
                    }
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        throw new TransportException("rank " + to + " timed out after "
                                + TimeUnit.NANOSECONDS.toMillis(timeoutNanos) + " ms waiting for " + key + " from rank " + from);
                    }
                    changed.awaitNanos(left);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new TransportException("rank " + to + " was interrupted waiting for " + key + " from rank " + from, e);
            } finally {
                lock.unlock();
            }
        }

        void close(int r) {
            lock.lock();
            try {
                closed[r] = true;
                mailboxes.get(r).clear();
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }

        void closeAll() {
            lock.lock();
            try {
                for (int r = 0; r < closed.length; r++) {
                    closed[r] = true;
                    mailboxes.get(r).clear();
                }
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }
    }
}
