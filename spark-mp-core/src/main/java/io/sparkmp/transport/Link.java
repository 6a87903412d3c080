package io.sparkmp.transport;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The one authenticated connection between this task and one peer, carrying both directions. A writer
 * thread drains a bounded outbound queue (ordered, so frames to one peer arrive in send order); small frames
 * on an idle link go out from the sender's thread. Incoming frames are filed into mailboxes by key by whoever
 * holds the read token: on a plain NIO link a waiting receiver reads the socket itself (no wake-up hand-off),
 * and the reader thread reads while no receiver does; a TLS link has only its reader thread. The first read
 * or write failure fails the link and wakes every sender and receiver waiting on it.
 */
final class Link {
    private static final Logger LOG = LoggerFactory.getLogger(Link.class);
    private static final ByteBuffer NO_PAYLOAD = ByteBuffer.allocateDirect(0);

    /** Frames up to this size are written from the sender's thread when the link is idle (saves a hand-off). */
    static final int DIRECT_WRITE_MAX = 64 * 1024;

    /**
     * A frame waiting for the writer; {@code source} keeps the tensor's memory alive until written. A frame
     * the sender began writing itself has no header but the unwritten rest of its encoded header in
     * {@code headRest}.
     */
    private record Outbound(FrameHeader header, ByteBuffer headRest, ByteBuffer payload, INDArray source) {
        long bytes() {
            return payload.remaining();
        }
    }

    private final TransportConfig config;
    private final int localRank;
    private final int peerRank;
    private final Wire wire;
    private final ReceivePool pool;
    private final String peerName;

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition arrived = lock.newCondition();
    private final Condition space = lock.newCondition();
    private final Condition work = lock.newCondition();
    private final Map<TensorKey, ArrayDeque<INDArray>> held = new HashMap<>();
    private final ArrayDeque<Outbound> queue = new ArrayDeque<>();
    private long queuedBytes;
    private TransportException failure;
    private boolean peerClosed;
    private boolean closing;

    /*
     * Leader/follower reading (plain NIO only): whoever holds the read token reads the socket and files what
     * it reads. A receive() whose frame is not there takes the token itself when it is free, so its frame
     * reaches it without a wake-up hand-off from the reader thread; the reader thread holds the token only
     * while no receiver wants it (it yields at a frame boundary), so frames keep flowing and heartbeats,
     * idle timeouts and a dead peer are noticed while nobody receives.
     */
    private final Condition tokenFree = lock.newCondition();
    private final FrameReader frames;
    private final NioWire nio;
    private boolean reading;
    private Thread readingThread;
    private volatile int wantRead;
    /** When a receiver last handed the token back (under {@code lock}). */
    private long releasedAt = System.nanoTime();
    private volatile long lastArrival = System.nanoTime();
    /**
     * How often the reader thread looks whether the token came free (receivers do not wake it), and how long
     * receivers must have left it free before the reader thread takes it: a receiver that reads again within
     * that time then finds it free and needs no wake-up of the reader thread.
     */
    private static final long TOKEN_CHECK_NANOS = 1_000_000;

    private final Thread reader;
    private final Thread writer;

    /** Owns the write side of the wire, the codec and the header buffer: one frame at a time on the wire. */
    private final ReentrantLock writeLock = new ReentrantLock();
    private final FrameCodec writeCodec;
    private final ByteBuffer head = ByteBuffer.allocateDirect(FrameCodec.MAX_HEADER_BYTES + 4);
    private final ByteBuffer[] gather = new ByteBuffer[2];
    private volatile long lastWrite = System.nanoTime();
    /** Only a non-blocking wire can take a frame from the sender's thread without risking a stall there. */
    private final boolean directWrites;

    Link(TransportConfig config, int localRank, int peerRank, Wire wire, ReceivePool pool) {
        this.config = config;
        this.localRank = localRank;
        this.peerRank = peerRank;
        this.wire = wire;
        this.pool = pool;
        this.peerName = "rank " + peerRank + " (" + wire.remoteAddress() + ")";
        this.writeCodec = new FrameCodec(config.jobId(), config.maxFrameBytes());
        this.directWrites = wire instanceof NioWire;
        this.nio = wire instanceof NioWire n ? n : null;
        this.frames = new FrameReader(wire, new FrameCodec(config.jobId(), config.maxFrameBytes()), pool);
        String prefix = "sparkmp-transport-" + localRank + "-" + peerRank;
        reader = new Thread(nio != null ? this::pollLoop : this::readLoop, prefix + "-reader");
        writer = new Thread(this::writeLoop, prefix + "-writer");
        reader.setDaemon(true);
        writer.setDaemon(true);
    }

    void start() {
        reader.start();
        writer.start();
    }

    int peerRank() {
        return peerRank;
    }

    String peerName() {
        return peerName;
    }

    /** Queues a frame; blocks while the queue holds {@code maxInFlightBytes}, at most {@code sendTimeout}. */
    void send(TensorKey key, FrameHeader header, ByteBuffer payload, INDArray source) {
        Outbound o = new Outbound(header, null, payload == null ? NO_PAYLOAD : payload, source);
        long bytes = o.bytes();
        boolean direct = false;
        long timeoutNanos = config.sendTimeout().toNanos();
        long deadline = System.nanoTime() + timeoutNanos;
        lock.lock();
        try {
            while (true) {
                if (failure != null) {
                    throw new TransportException("cannot send " + key + " to " + peerName + ": "
                            + failure.getMessage(), failure);
                }
                if (closing) {
                    throw new TransportException("cannot send " + key + " to " + peerName + ": channel is closed");
                }
                // An empty queue takes any frame, so one frame above the budget cannot wait forever.
                if (queuedBytes == 0 || queuedBytes + bytes <= config.maxInFlightBytes()) {
                    break;
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new TransportException("send of " + key + " to " + peerName + " timed out after "
                            + config.sendTimeout().toMillis() + " ms: " + queuedBytes + " bytes still queued for"
                            + " that peer, plus " + bytes + " would exceed maxInFlightBytes ("
                            + config.maxInFlightBytes() + "); the peer is not reading");
                }
                space.awaitNanos(left);
            }
            // Checked under this lock, so no frame queued by another sender can be overtaken.
            direct = directWrites && bytes <= DIRECT_WRITE_MAX && queue.isEmpty() && writeLock.tryLock();
            if (!direct) {
                queue.addLast(o);
                queuedBytes += bytes;
                work.signal();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new TransportException("interrupted while sending " + key + " to " + peerName, e);
        } finally {
            lock.unlock();
        }
        if (direct) {
            writeDirect(key, o);
        }
    }

    /** Writes what the socket takes now from this thread; the writer thread finishes the rest. */
    private void writeDirect(TensorKey key, Outbound o) {
        try {
            writeCodec.encode(o.header(), head);
            gather[0] = head;
            gather[1] = o.payload().duplicate();
            boolean wrote = wire.tryWrite(gather);
            lastWrite = System.nanoTime();
            if (!wrote || NioWire.remaining(gather) > 0) {
                ByteBuffer headRest = ByteBuffer.allocate(head.remaining()).put(head).flip();
                Outbound rest = new Outbound(null, headRest, gather[1], o.source());
                lock.lock();
                try {
                    queue.addFirst(rest);
                    queuedBytes += rest.bytes();
                    work.signal();
                } finally {
                    lock.unlock();
                }
            }
        } catch (IOException | RuntimeException e) {
            fail("writing to " + peerName + " failed: " + describe(e), e);
            throw new TransportException("cannot send " + key + " to " + peerName + ": " + describe(e), e);
        } finally {
            gather[1] = null;
            writeLock.unlock();
        }
    }

    /** Takes the frame with exactly {@code key}, waiting at most {@code receiveTimeout}. */
    INDArray receive(TensorKey key) {
        long timeoutNanos = config.receiveTimeout().toNanos();
        long deadline = System.nanoTime() + timeoutNanos;
        lock.lock();
        try {
            while (true) {
                ArrayDeque<INDArray> q = held.get(key);
                if (q != null) {
                    INDArray a = q.pollFirst();
                    if (q.isEmpty()) {
                        held.remove(key);
                    }
                    return a;
                }
                if (peerClosed) {
                    throw new TransportException("cannot receive " + key + " from " + peerName
                            + ": the peer closed its channel; held from it: " + held.keySet());
                }
                if (failure != null) {
                    throw new TransportException("cannot receive " + key + " from " + peerName + ": "
                            + failure.getMessage(), failure);
                }
                if (closing) {
                    throw new TransportException("cannot receive " + key + " from " + peerName
                            + ": channel is closed");
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new TransportException("timed out after " + config.receiveTimeout().toMillis()
                            + " ms waiting for " + key + " from " + peerName + "; held from that peer: "
                            + held.keySet());
                }
                if (nio != null && !reading) {
                    if (Thread.currentThread().isInterrupted()) {
                        throw new InterruptedException(); // a read would return at once, again and again
                    }
                    readHere(left);
                    continue;
                }
                if (nio != null) {
                    wantRead++;
                    if (readingThread == reader) {
                        nio.wakeup();
                    }
                    try {
                        arrived.awaitNanos(left);
                    } finally {
                        wantRead--;
                    }
                } else {
                    arrived.awaitNanos(left);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new TransportException("interrupted while waiting for " + key + " from " + peerName, e);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Called with {@code lock} held and the token free: reads one frame (or waits at most {@code leftNanos} for
     * one) from this receiver's thread, then hands the token back. A read error fails the link.
     */
    private void readHere(long leftNanos) {
        reading = true;
        readingThread = Thread.currentThread();
        lock.unlock();
        try {
            Thread self = Thread.currentThread();
            readOne(leftNanos, self::isInterrupted);
        } catch (Throwable e) {
            fail("reading from " + peerName + " failed: " + describe(e), e);
        } finally {
            lock.lock();
            reading = false;
            readingThread = null;
            releasedAt = System.nanoTime();
            arrived.signalAll(); // another receiver may take the token
        }
    }

    /**
     * Reads and files one frame; false if none began within {@code maxWaitNanos} (or the idle limit, if
     * sooner) or {@code stop} said so. The caller holds the read token, not {@code lock}.
     */
    private boolean readOne(long maxWaitNanos, java.util.function.BooleanSupplier stop) throws IOException {
        long idleNanos = config.idleTimeout().toNanos();
        long wait = Math.min(maxWaitNanos, lastArrival + idleNanos - System.nanoTime());
        FrameReader.Frame f = frames.poll(Math.max(0, wait), config.readTimeout().toMillis(), stop);
        if (f == null) {
            if (System.nanoTime() - lastArrival >= idleNanos) {
                throw new java.net.SocketTimeoutException("peer silent for " + config.idleTimeout().toMillis()
                        + " ms between frames (idleTimeout)");
            }
            return false;
        }
        lastArrival = System.nanoTime();
        file(f);
        return true;
    }

    /** Files a frame read by whoever held the token. */
    private void file(FrameReader.Frame f) {
        int type = f.header().messageType;
        if (type == FrameHeader.MSG_HEARTBEAT) {
            return;
        }
        lock.lock();
        try {
            if (type == FrameHeader.MSG_GOODBYE) {
                peerClosed = true;
            } else {
                held.computeIfAbsent(FrameCodec.keyOf(f.header()), k -> new ArrayDeque<>(2)).addLast(f.tensor());
            }
            arrived.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** The reader thread of a NIO link: holds the token while no receiver wants it. */
    private void pollLoop() {
        try {
            while (true) {
                lock.lock();
                try {
                    while (reading || wantRead > 0 || System.nanoTime() - releasedAt < TOKEN_CHECK_NANOS) {
                        if (failure != null || peerClosed) {
                            return;
                        }
                        tokenFree.awaitNanos(TOKEN_CHECK_NANOS);
                    }
                    if (failure != null || peerClosed) {
                        return;
                    }
                    reading = true;
                    readingThread = reader;
                } finally {
                    lock.unlock();
                }
                try {
                    readOne(Long.MAX_VALUE / 4, () -> wantRead > 0);
                } finally {
                    lock.lock();
                    try {
                        reading = false;
                        readingThread = null;
                        arrived.signalAll(); // a receiver waiting for the token takes it now
                    } finally {
                        lock.unlock();
                    }
                }
            }
        } catch (Throwable e) {
            fail("reading from " + peerName + " failed: " + describe(e), e);
        }
    }

    /** The reader thread of a TLS link (a blocking stream cannot be woken): the only one that reads. */
    private void readLoop() {
        long idle = config.idleTimeout().toMillis();
        long read = config.readTimeout().toMillis();
        try {
            while (true) {
                FrameReader.Frame f = frames.next(idle, read);
                int type = f.header().messageType;
                if (type == FrameHeader.MSG_HEARTBEAT) {
                    continue;
                }
                lock.lock();
                try {
                    if (type == FrameHeader.MSG_GOODBYE) {
                        peerClosed = true;
                        arrived.signalAll();
                        return;
                    }
                    held.computeIfAbsent(FrameCodec.keyOf(f.header()), k -> new ArrayDeque<>(2))
                            .addLast(f.tensor());
                    arrived.signalAll();
                } finally {
                    lock.unlock();
                }
            }
        } catch (Throwable e) {
            fail("reading from " + peerName + " failed: " + describe(e), e);
        }
    }

    private void writeLoop() {
        long heartbeatNanos = Math.max(1, config.idleTimeout().toNanos() / 4);
        long stallMillis = config.idleTimeout().toMillis();
        try {
            while (true) {
                lock.lock();
                try {
                    while (queue.isEmpty() && !closing && failure == null) {
                        long wait = lastWrite + heartbeatNanos - System.nanoTime();
                        if (wait <= 0) {
                            break;
                        }
                        work.awaitNanos(wait);
                    }
                    if (failure != null) {
                        return;
                    }
                } finally {
                    lock.unlock();
                }
                // The write lock first, then the queue head: a sender writing directly may add its rest first.
                writeLock.lock();
                try {
                    Outbound o;
                    boolean last = false;
                    lock.lock();
                    try {
                        o = queue.peekFirst();
                        if (o == null) {
                            if (!closing && System.nanoTime() - lastWrite < heartbeatNanos) {
                                continue; // a direct write just went out: no heartbeat needed
                            }
                            last = closing;
                        }
                    } finally {
                        lock.unlock();
                    }
                    boolean fromQueue = o != null;
                    if (o == null) {
                        o = new Outbound(FrameHeader.control(
                                last ? FrameHeader.MSG_GOODBYE : FrameHeader.MSG_HEARTBEAT, config.jobId()),
                                null, NO_PAYLOAD, null);
                    }
                    if (o.header() != null) {
                        writeCodec.encode(o.header(), head);
                        gather[0] = head;
                    } else {
                        gather[0] = o.headRest();
                    }
                    gather[1] = o.payload().duplicate();
                    wire.write(gather, stallMillis);
                    gather[1] = null;
                    lastWrite = System.nanoTime();
                    if (last) {
                        return;
                    }
                    if (fromQueue) {
                        lock.lock();
                        try {
                            queue.pollFirst();
                            queuedBytes -= o.bytes();
                            space.signalAll();
                        } finally {
                            lock.unlock();
                        }
                    }
                } finally {
                    writeLock.unlock();
                }
            }
        } catch (Throwable e) {
            fail("writing to " + peerName + " failed: " + describe(e), e);
        }
    }

    private static String describe(Throwable e) {
        String m = e.getMessage();
        return m == null ? e.getClass().getSimpleName() : e.getClass().getSimpleName() + ": " + m;
    }

    /** Fails the link once: wakes all waiters and drops the connection. Errors after a close are not failures. */
    void fail(String message, Throwable cause) {
        TransportException f;
        lock.lock();
        try {
            if (failure != null || closing || peerClosed) {
                if (failure == null) {
                    failure = new TransportException(message, cause); // keep waiters from waiting on a dead link
                    arrived.signalAll();
                    space.signalAll();
                    work.signalAll();
            tokenFree.signalAll();
                }
                return;
            }
            f = new TransportException(message, cause);
            failure = f;
            arrived.signalAll();
            space.signalAll();
            work.signalAll();
            tokenFree.signalAll();
        } finally {
            lock.unlock();
        }
        LOG.warn("rank {}: link to {} failed: {}", localRank, peerName, message);
        closeWire(f);
    }

    private void closeWire(Throwable primary) {
        try {
            wire.close();
        } catch (IOException | RuntimeException e) {
            if (primary != null) {
                primary.addSuppressed(e);
            } else {
                LOG.debug("rank {}: error closing link to {}", localRank, peerName, e);
            }
        }
    }

    /** Starts closing: the writer flushes what is queued, then says goodbye. */
    void beginClose() {
        lock.lock();
        try {
            closing = true;
            work.signalAll();
            tokenFree.signalAll();
            arrived.signalAll();
            space.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Finishes closing by {@code deadlineNanos}; queued frames not written by then are dropped. */
    void awaitClose(long deadlineNanos) {
        try {
            writer.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadlineNanos - System.nanoTime())));
            if (writer.isAlive()) {
                LOG.warn("rank {}: dropping {} queued bytes to {}: not written within closeTimeout", localRank,
                        queuedBytes(), peerName);
            }
            TransportException f;
            lock.lock();
            try {
                f = failure;
                held.clear();
            } finally {
                lock.unlock();
            }
            closeWire(f);
            writer.join(1000);
            reader.join(1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            closeWire(null);
        }
    }

    private long queuedBytes() {
        lock.lock();
        try {
            return queuedBytes;
        } finally {
            lock.unlock();
        }
    }

    /** Keys held from this peer (for diagnostics and tests). */
    List<TensorKey> heldKeys() {
        lock.lock();
        try {
            return new ArrayList<>(held.keySet());
        } finally {
            lock.unlock();
        }
    }
}
