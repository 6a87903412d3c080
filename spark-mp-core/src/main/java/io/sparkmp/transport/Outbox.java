package io.sparkmp.transport;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The send side of one link: a queue of frames bounded by {@code maxInFlightBytes} and the writer thread that
 * drains it in order (so frames to one peer arrive in send order). Small frames on an idle link go out from
 * the sender's thread (saves a hand-off); while nothing is sent the writer sends a heartbeat every quarter of
 * {@code idleTimeout}, and at close it flushes the queue and says goodbye. The writer sleeps until there is a
 * frame, a heartbeat is due or the link ends. The queue lives under the link's lock; the wire's write side,
 * the codec and the header buffer under {@link #writeLock}, one frame at a time on the wire.
 */
final class Outbox {
    private static final ByteBuffer NO_PAYLOAD = ByteBuffer.allocateDirect(0);

    /** Frames up to this size are written from the sender's thread when the link is idle. */
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
    private final LinkState state;
    private final Wire wire;
    private final LinkState.OnFailure onFailure;
    private final Condition space;
    private final Condition work;
    private final ArrayDeque<Outbound> queue = new ArrayDeque<>();
    private long queuedBytes;

    private final ReentrantLock writeLock = new ReentrantLock();
    private final FrameCodec writeCodec;
    private final ByteBuffer head = ByteBuffer.allocateDirect(FrameCodec.MAX_HEADER_BYTES + 4);
    private final ByteBuffer[] gather = new ByteBuffer[2];
    private volatile long lastWrite = System.nanoTime();
    /** Only a non-blocking wire can take a frame from the sender's thread without risking a stall there. */
    private final boolean directWrites;
    private final Thread writer;

    Outbox(TransportConfig config, LinkState state, Wire wire, String threadName, LinkState.OnFailure onFailure) {
        this.config = config;
        this.state = state;
        this.wire = wire;
        this.onFailure = onFailure;
        this.space = state.newCondition();
        this.work = state.newCondition();
        this.writeCodec = new FrameCodec(config.jobId(), config.maxFrameBytes());
        this.directWrites = wire instanceof NioWire;
        this.writer = new Thread(this::writeLoop, threadName);
        writer.setDaemon(true);
    }

    void start() {
        writer.start();
    }

    /** Queues a frame; blocks while the queue holds {@code maxInFlightBytes}, at most {@code sendTimeout}. */
    void send(TensorKey key, FrameHeader header, ByteBuffer payload, INDArray source) {
        Outbound o = new Outbound(header, null, payload == null ? NO_PAYLOAD : payload, source);
        long bytes = o.bytes();
        boolean direct;
        long deadline = System.nanoTime() + config.sendTimeout().toNanos();
        String peerName = state.peerName;
        state.lock.lock();
        try {
            while (true) {
                if (state.failure != null) {
                    throw new TransportException("cannot send " + key + " to " + peerName + ": "
                            + state.failure.getMessage(), state.failure);
                }
                if (state.closing) {
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
            state.lock.unlock();
        }
        if (direct) {
            writeDirect(key, o);
        }
    }

    /** Writes what the socket takes now from this thread (holding the write lock); the writer writes the rest. */
    private void writeDirect(TensorKey key, Outbound o) {
        try {
            writeCodec.encode(o.header(), head);
            gather[0] = head;
            gather[1] = o.payload().duplicate();
            wire.tryWrite(gather);
            lastWrite = System.nanoTime();
            if (NioWire.remaining(gather) > 0) {
                ByteBuffer headRest = ByteBuffer.allocate(head.remaining()).put(head).flip();
                Outbound rest = new Outbound(null, headRest, gather[1], o.source());
                state.lock.lock();
                try {
                    queue.addFirst(rest);
                    queuedBytes += rest.bytes();
                    work.signal();
                } finally {
                    state.lock.unlock();
                }
            }
        } catch (IOException | RuntimeException e) {
            onFailure.fail("writing to " + state.peerName + " failed: " + LinkState.describe(e), e);
            throw new TransportException("cannot send " + key + " to " + state.peerName + ": "
                    + LinkState.describe(e), e);
        } finally {
            gather[1] = null;
            writeLock.unlock();
        }
    }

    private void writeLoop() {
        long heartbeatNanos = Math.max(1, config.idleTimeout().toNanos() / 4);
        long stallMillis = config.idleTimeout().toMillis();
        try {
            while (true) {
                state.lock.lock();
                try {
                    while (queue.isEmpty() && !state.closing && state.failure == null) {
                        long wait = lastWrite + heartbeatNanos - System.nanoTime();
                        if (wait <= 0) {
                            break;
                        }
                        work.awaitNanos(wait);
                    }
                    if (state.failure != null) {
                        return;
                    }
                } finally {
                    state.lock.unlock();
                }
                if (writeNext(heartbeatNanos, stallMillis)) {
                    return;
                }
            }
        } catch (Throwable e) {
            onFailure.fail("writing to " + state.peerName + " failed: " + LinkState.describe(e), e);
        }
    }

    /**
     * Writes the head of the queue, else a heartbeat (if one is due) or, when closing, the goodbye.
     *
     * @return whether the goodbye went out (the writer is done)
     */
    private boolean writeNext(long heartbeatNanos, long stallMillis) throws IOException {
        // The write lock first, then the queue head: a sender writing directly may add its rest first.
        writeLock.lock();
        try {
            Outbound o;
            boolean last = false;
            state.lock.lock();
            try {
                o = queue.peekFirst();
                if (o == null) {
                    if (!state.closing && System.nanoTime() - lastWrite < heartbeatNanos) {
                        return false; // a direct write just went out: no heartbeat needed
                    }
                    last = state.closing;
                }
            } finally {
                state.lock.unlock();
            }
            boolean fromQueue = o != null;
            if (o == null) {
                o = new Outbound(FrameHeader.control(last ? FrameHeader.MSG_GOODBYE : FrameHeader.MSG_HEARTBEAT,
                        config.jobId()), null, NO_PAYLOAD, null);
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
            if (fromQueue) {
                state.lock.lock();
                try {
                    queue.pollFirst();
                    queuedBytes -= o.bytes();
                    space.signalAll();
                } finally {
                    state.lock.unlock();
                }
            }
            return last;
        } finally {
            writeLock.unlock();
        }
    }

    /** Waits at most {@code millis} for the writer to flush and say goodbye; whether it did. */
    boolean awaitFlushed(long millis) throws InterruptedException {
        writer.join(Math.max(1, millis));
        return !writer.isAlive();
    }

    void join(long millis) throws InterruptedException {
        writer.join(millis);
    }

    long queuedBytes() {
        state.lock.lock();
        try {
            return queuedBytes;
        } finally {
            state.lock.unlock();
        }
    }
}
