package io.sparkmp.transport;

import java.io.IOException;
import java.net.SocketTimeoutException;
import java.util.concurrent.locks.Condition;
import java.util.function.BooleanSupplier;

/**
 * Who reads one link's socket, and the link's reader thread. Whoever holds the read token reads frames and
 * files them into the {@link Mailbox}.
 *
 * <p>Plain NIO (leader/follower): a receiver whose frame is not there takes the token when it is free and
 * reads itself, so its frame reaches it without a wake-up hand-off from the reader thread. The reader thread
 * holds the token only while no receiver wants it (it yields at a frame boundary), so frames keep flowing and
 * heartbeats, idle timeouts and a dead peer are noticed while nobody receives. TLS: a blocking stream cannot
 * be woken, so the reader thread alone reads.
 *
 * <p>No thread here wakes on a short timer: the reader thread sleeps until the token is handed back (then at
 * most {@link #HANDBACK_GRACE_NANOS} more), a reading thread until data, the link's end or the idle limit, a
 * waiting receiver until a frame is filed, the token comes free or its receive timeout. Token state is
 * guarded by the link's lock.
 */
final class ReadToken {
    /**
     * How long receivers must have left the token free before the reader thread takes it: a receiver that
     * reads again within that time (the next micro-batch) finds it free and needs no wake-up of the reader.
     */
    static final long HANDBACK_GRACE_NANOS = 1_000_000;

    private final TransportConfig config;
    private final LinkState state;
    private final Mailbox mailbox;
    private final LinkState.OnFailure onFailure;
    private final FrameReader frames;
    private final NioWire nio;
    private final Condition tokenFree;
    private final Thread reader;

    private boolean reading;
    private Thread readingThread;
    /** The reader thread waits, untimed, for a receiver to hand the token back or stop wanting it. */
    private boolean readerParked;
    /** Receivers waiting for the token (changed under the lock; read by the reading thread without it). */
    private volatile int wantRead;
    /** When a receiver last handed the token back. */
    private long releasedAt = System.nanoTime();
    private volatile long lastArrival = System.nanoTime();

    ReadToken(TransportConfig config, LinkState state, Mailbox mailbox, Wire wire, ReceivePool pool,
              Landings landings, String threadName, LinkState.OnFailure onFailure) {
        this.config = config;
        this.state = state;
        this.mailbox = mailbox;
        this.onFailure = onFailure;
        this.frames = new FrameReader(wire, new FrameCodec(config.jobId(), config.maxFrameBytes()), pool, landings);
        this.nio = wire instanceof NioWire n ? n : null;
        this.tokenFree = state.newCondition();
        this.reader = new Thread(nio != null ? this::pollLoop : this::readLoop, threadName);
        reader.setDaemon(true);
    }

    void start() {
        reader.start();
    }

    void join(long millis) throws InterruptedException {
        reader.join(millis);
    }

    /**
     * For a receiver whose frame is not in the mailbox, with the lock held: reads one frame here if the token
     * is free (NIO), else waits at most {@code leftNanos} for a frame to be filed or the token to come free.
     * The caller looks in the mailbox again afterwards. A read error fails the link.
     */
    void readOrAwait(long leftNanos) throws InterruptedException {
        if (nio == null) {
            mailbox.await(leftNanos);
            return;
        }
        if (!reading) {
            if (Thread.currentThread().isInterrupted()) {
                throw new InterruptedException(); // a read would return at once, again and again
            }
            readHere(leftNanos);
            return;
        }
        wantRead++;
        if (readingThread == reader) {
            nio.wakeup(); // the reader thread yields the token at the next frame boundary
        }
        try {
            mailbox.await(leftNanos);
        } finally {
            if (--wantRead == 0 && readerParked) {
                tokenFree.signal();
            }
        }
    }

    /** Takes the free token, reads one frame (or waits at most {@code leftNanos}), hands the token back. */
    private void readHere(long leftNanos) {
        reading = true;
        readingThread = Thread.currentThread();
        state.lock.unlock();
        try {
            Thread self = Thread.currentThread();
            readOne(leftNanos, self::isInterrupted);
        } catch (Throwable e) {
            onFailure.fail("reading from " + state.peerName + " failed: " + LinkState.describe(e), e);
        } finally {
            state.lock.lock();
            reading = false;
            readingThread = null;
            releasedAt = System.nanoTime();
            mailbox.signalReceivers(); // another receiver may take the token
            if (readerParked) {
                tokenFree.signal(); // not while it waits out a grace time: one wake-up per hand-back at most
            }
        }
    }

    /**
     * Reads and files one frame; false if none began within {@code maxWaitNanos} (or the idle limit, if
     * sooner) or {@code stop} said so. The caller holds the token, not the lock.
     */
    private boolean readOne(long maxWaitNanos, BooleanSupplier stop) throws IOException {
        long idleNanos = config.idleTimeout().toNanos();
        long wait = Math.min(maxWaitNanos, lastArrival + idleNanos - System.nanoTime());
        FrameReader.Frame f = frames.poll(Math.max(0, wait), config.readTimeout().toMillis(), stop);
        if (f == null) {
            if (System.nanoTime() - lastArrival >= idleNanos) {
                throw new SocketTimeoutException("peer silent for " + config.idleTimeout().toMillis()
                        + " ms between frames (idleTimeout)");
            }
            return false;
        }
        lastArrival = System.nanoTime();
        mailbox.file(f);
        return true;
    }

    /** The reader thread of a NIO link: holds the token while no receiver wants it. */
    private void pollLoop() {
        try {
            while (true) {
                state.lock.lock();
                try {
                    if (!awaitTokenForReader()) {
                        return;
                    }
                } finally {
                    state.lock.unlock();
                }
                try {
                    readOne(Long.MAX_VALUE / 4, () -> wantRead > 0);
                } finally {
                    state.lock.lock();
                    try {
                        reading = false;
                        readingThread = null;
                        mailbox.signalReceivers(); // a receiver waiting for the token takes it now
                    } finally {
                        state.lock.unlock();
                    }
                }
            }
        } catch (Throwable e) {
            onFailure.fail("reading from " + state.peerName + " failed: " + LinkState.describe(e), e);
        }
    }

    /**
     * With the lock held: waits until the token is free and has been for the grace time, then takes it for
     * the reader thread. While a receiver holds or wants the token the wait is untimed (the receiver signals
     * when it hands the token back or stops wanting it); receivers that take and hand back the token again
     * and again within the grace time do not signal, so a busy link costs the reader thread about two
     * wake-ups per grace time, an idle one none.
     *
     * @return false when the link failed or the peer said goodbye (the reader thread ends)
     */
    private boolean awaitTokenForReader() throws InterruptedException {
        while (true) {
            if (state.failure != null || state.peerClosed) {
                return false;
            }
            if (reading || wantRead > 0) {
                readerParked = true;
                try {
                    tokenFree.await();
                } finally {
                    readerParked = false;
                }
                continue;
            }
            long grace = releasedAt + HANDBACK_GRACE_NANOS - System.nanoTime();
            if (grace > 0) {
                tokenFree.awaitNanos(grace);
                continue;
            }
            reading = true;
            readingThread = reader;
            return true;
        }
    }

    /** The reader thread of a TLS link: the only one that reads. */
    private void readLoop() {
        long idle = config.idleTimeout().toMillis();
        long read = config.readTimeout().toMillis();
        try {
            while (!mailbox.file(frames.next(idle, read))) {
                // until the peer's goodbye
            }
        } catch (Throwable e) {
            onFailure.fail("reading from " + state.peerName + " failed: " + LinkState.describe(e), e);
        }
    }
}
