package io.sparkmp.transport;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The links of one channel by peer rank, the ranks whose incoming connection is being admitted, and whether
 * the channel is closed. The acceptor, the dialer and the channel's callers meet here; waits wake on a new
 * link or the close, never on a timer.
 */
final class LinkRegistry {
    private final TransportConfig config;
    private final int localRank;
    private final ReceivePool pool;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final Map<Integer, Link> links = new TreeMap<>();
    private final Set<Integer> reserved = new TreeSet<>();
    /** Written under the lock; read without it on every send and receive. */
    private volatile boolean closed;

    LinkRegistry(TransportConfig config, int localRank, ReceivePool pool) {
        this.config = config;
        this.localRank = localRank;
        this.pool = pool;
    }

    /** Whether an authenticated dialer may link: null if so (its rank is then reserved), else why not. */
    String admit(int dialer) {
        lock.lock();
        try {
            if (closed) {
                return "rank " + localRank + " is closing";
            }
            if (dialer < 0 || dialer == localRank) {
                return "dialer claims rank " + dialer + " on rank " + localRank;
            }
            if (dialer > localRank) {
                return "rank " + dialer + " dialled rank " + localRank + ", but the lower rank dials";
            }
            if (links.containsKey(dialer) || !reserved.add(dialer)) {
                return "rank " + dialer + " is already linked to rank " + localRank;
            }
            return null;
        } finally {
            lock.unlock();
        }
    }

    /** Releases the reservation of a dialer whose admission failed after {@link #admit}. */
    void unreserve(int rank) {
        lock.lock();
        try {
            reserved.remove(rank);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Makes an authenticated wire the link to {@code peer} and starts it.
     *
     * @throws TransportException (the wire closed) if the channel is closed or already linked to that peer
     */
    void register(int peer, Wire w) throws IOException {
        Link link = new Link(config, localRank, peer, w, pool);
        lock.lock();
        try {
            reserved.remove(peer);
            if (closed || links.containsKey(peer)) {
                w.close();
                throw new TransportException("rank " + localRank
                        + (closed ? " is closed" : " already has a link to rank " + peer));
            }
            links.put(peer, link);
            link.start();
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /**
     * The link to {@code peer}, or null if there is none and {@code required} is false.
     *
     * @throws TransportException if {@code required} and there is no link, naming both ranks
     */
    Link get(int peer, boolean required) {
        lock.lock();
        try {
            Link l = links.get(peer);
            if (l == null && required) {
                throw new TransportException("rank " + localRank + " has no link to rank " + peer + " (linked: "
                        + links.keySet() + "); call connect with that peer first");
            }
            return l;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Waits until every peer in {@code dialledBy} (the lower ranks, which dial this one) is linked, the
     * deadline passes or the channel closes.
     *
     * @return those not linked by then, as "rank 2 (/10.0.0.5:4000)"
     */
    List<String> awaitLinked(Map<Integer, InetSocketAddress> dialledBy, long deadlineNanos)
            throws InterruptedException {
        lock.lock();
        try {
            while (true) {
                List<String> missing = new ArrayList<>();
                for (Map.Entry<Integer, InetSocketAddress> e : new TreeMap<>(dialledBy).entrySet()) {
                    if (!links.containsKey(e.getKey())) {
                        missing.add("rank " + e.getKey() + " (" + e.getValue() + ")");
                    }
                }
                long left = deadlineNanos - System.nanoTime();
                if (missing.isEmpty() || left <= 0 || closed) {
                    return missing;
                }
                changed.awaitNanos(left);
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * Waits at most {@code millis} unless the channel closes first (the acceptor's back-off after a failed
     * accept).
     *
     * @return whether the channel is closed
     */
    boolean awaitClosed(long millis) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        lock.lock();
        try {
            long left;
            while (!closed && (left = deadline - System.nanoTime()) > 0) {
                changed.awaitNanos(left);
            }
            return closed;
        } finally {
            lock.unlock();
        }
    }

    boolean closed() {
        return closed;
    }

    /**
     * Marks the channel closed and wakes every wait here.
     *
     * @return the links to close, or null if it was closed already
     */
    List<Link> close() {
        lock.lock();
        try {
            if (closed) {
                return null;
            }
            closed = true;
            changed.signalAll();
            return new ArrayList<>(links.values());
        } finally {
            lock.unlock();
        }
    }
}
