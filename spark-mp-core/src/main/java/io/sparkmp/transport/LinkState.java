package io.sparkmp.transport;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The life cycle of one {@link Link} and the lock its parts ({@link Outbox}, {@link Mailbox},
 * {@link ReadToken}) keep their state under: whether the link failed, is closing, or the peer said goodbye.
 * Each part waits on its own condition of {@link #lock}; {@link #wakeAll} wakes every one of them when the
 * life cycle moves on, so nobody waits on a dead link. Fields are guarded by {@link #lock}.
 */
final class LinkState {
    /** What a part calls on a read or write failure: fails the link once (see {@link Link#fail}). */
    @FunctionalInterface
    interface OnFailure {
        void fail(String message, Throwable cause);
    }

    final ReentrantLock lock = new ReentrantLock();
    /** "rank 3 (/10.0.0.7:41234)": how errors name the peer. */
    final String peerName;
    private final List<Condition> conditions = new ArrayList<>();

    TransportException failure;
    boolean closing;
    boolean peerClosed;

    LinkState(String peerName) {
        this.peerName = peerName;
    }

    /** A condition of {@link #lock} that {@link #wakeAll} signals; parts create theirs before the link starts. */
    Condition newCondition() {
        Condition c = lock.newCondition();
        conditions.add(c);
        return c;
    }

    /** Wakes every waiter of the link; with {@link #lock} held. */
    void wakeAll() {
        for (Condition c : conditions) {
            c.signalAll();
        }
    }

    /** Whether the link has ended in any way (failure, close, goodbye). */
    boolean ended() {
        return failure != null || closing || peerClosed;
    }

    static String describe(Throwable e) {
        String m = e.getMessage();
        return m == null ? e.getClass().getSimpleName() : e.getClass().getSimpleName() + ": " + m;
    }
}
