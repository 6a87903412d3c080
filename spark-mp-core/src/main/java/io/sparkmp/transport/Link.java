package io.sparkmp.transport;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;

/**
 * The one authenticated connection between this task and one peer, carrying both directions: an
 * {@link Outbox} (send queue and writer thread), a {@link Mailbox} (received frames by key), a
 * {@link ReadToken} (who reads the socket; the reader thread) and their shared {@link LinkState}. Owns the
 * link's life cycle: the first read or write failure fails the link, wakes every sender and receiver waiting
 * on it and drops the connection; a close flushes the queue, says goodbye and joins the threads.
 */
final class Link {
    private static final Logger LOG = LoggerFactory.getLogger(Link.class);

    private final TransportConfig config;
    private final int localRank;
    private final Wire wire;
    private final LinkState state;
    private final Mailbox mailbox;
    private final Outbox outbox;
    private final ReadToken token;
    private final Landings landings = new Landings();

    Link(TransportConfig config, int localRank, int peerRank, Wire wire, ReceivePool pool) {
        this.config = config;
        this.localRank = localRank;
        this.wire = wire;
        this.state = new LinkState("rank " + peerRank + " (" + wire.remoteAddress() + ")");
        this.mailbox = new Mailbox(state);
        String prefix = "sparkmp-transport-" + localRank + "-" + peerRank;
        this.outbox = new Outbox(config, state, wire, prefix + "-writer", this::fail);
        this.token = new ReadToken(config, state, mailbox, wire, pool, landings, prefix + "-reader", this::fail);
    }

    void start() {
        token.start();
        outbox.start();
    }

    /** Queues a frame; blocks while the queue holds {@code maxInFlightBytes}, at most {@code sendTimeout}. */
    void send(TensorKey key, FrameHeader header, ByteBuffer payload, INDArray source) {
        outbox.send(key, header, payload, source);
    }

    /** Names the array the frame {@code key} is to be read into (see {@link TensorChannel#expectInto}). */
    void expectInto(TensorKey key, INDArray destination) {
        landings.expect(key, destination);
    }

    /** Takes the frame with exactly {@code key}, waiting at most {@code receiveTimeout}. */
    INDArray receive(TensorKey key) {
        return receive(key, config.receiveTimeout().toNanos());
    }

    /** Takes the frame with exactly {@code key}, waiting at most {@code timeoutNanos}. */
    INDArray receive(TensorKey key, long timeoutNanos) {
        long deadline = System.nanoTime() + timeoutNanos;
        String peerName = state.peerName;
        state.lock.lock();
        try {
            while (true) {
                INDArray a = mailbox.take(key);
                if (a != null) {
                    landings.forget(key); // named after its frame had come: that frame is in a pooled array
                    return a;
                }
                if (state.peerClosed) {
                    throw new TransportException("cannot receive " + key + " from " + peerName
                            + ": the peer closed its channel; held from it: " + mailbox.keys());
                }
                if (state.failure != null) {
                    throw new TransportException("cannot receive " + key + " from " + peerName + ": "
                            + state.failure.getMessage(), state.failure);
                }
                if (state.closing) {
                    throw new TransportException("cannot receive " + key + " from " + peerName
                            + ": channel is closed");
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new TransportException("timed out after " + TimeUnit.NANOSECONDS.toMillis(timeoutNanos)
                            + " ms waiting for " + key + " from " + peerName + "; held from that peer: "
                            + mailbox.keys());
                }
                token.readOrAwait(left);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new TransportException("interrupted while waiting for " + key + " from " + peerName, e);
        } finally {
            state.lock.unlock();
        }
    }

    /** Fails the link once: wakes all waiters and drops the connection. Errors after a close are not failures. */
    void fail(String message, Throwable cause) {
        TransportException f;
        state.lock.lock();
        try {
            if (state.failure != null) {
                return;
            }
            boolean ended = state.ended();
            f = new TransportException(message, cause);
            state.failure = f; // also after a close: keeps waiters from waiting on a dead link
            state.wakeAll();
            if (ended) {
                return;
            }
        } finally {
            state.lock.unlock();
        }
        LOG.warn("rank {}: link to {} failed: {}", localRank, state.peerName, message);
        closeWire(f);
    }

    private void closeWire(Throwable primary) {
        try {
            wire.close();
        } catch (IOException | RuntimeException e) {
            if (primary != null) {
                primary.addSuppressed(e);
            } else {
                LOG.debug("rank {}: error closing link to {}", localRank, state.peerName, e);
            }
        }
    }

    /** Starts closing: the writer flushes what is queued, then says goodbye. */
    void beginClose() {
        state.lock.lock();
        try {
            state.closing = true;
            state.wakeAll();
        } finally {
            state.lock.unlock();
        }
    }

    /** Finishes closing by {@code deadlineNanos}; queued frames not written by then are dropped. */
    void awaitClose(long deadlineNanos) {
        try {
            if (!outbox.awaitFlushed(TimeUnit.NANOSECONDS.toMillis(deadlineNanos - System.nanoTime()))) {
                LOG.warn("rank {}: dropping {} queued bytes to {}: not written within closeTimeout", localRank,
                        outbox.queuedBytes(), state.peerName);
            }
            TransportException f;
            state.lock.lock();
            try {
                f = state.failure;
                mailbox.clear();
                landings.clear();
            } finally {
                state.lock.unlock();
            }
            closeWire(f);
            outbox.join(1000);
            token.join(1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            closeWire(null);
        }
    }
}
