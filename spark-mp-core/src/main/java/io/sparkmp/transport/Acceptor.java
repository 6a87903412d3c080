package io.sparkmp.transport;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.Semaphore;

/**
 * The server side of a channel: a thread that accepts connections and, per connection, a handshake thread
 * that makes it a wire, authenticates the dialer ({@link Handshake#accept}) and registers the link. At most
 * {@value #MAX_CONCURRENT_HANDSHAKES} handshakes run at once (more are refused). Refused peers are logged
 * with the reason and the server keeps serving; after a failed accept (e.g. out of file descriptors) it
 * backs off from 10 ms doubling to 1 s, woken at once by the channel's close.
 */
final class Acceptor {
    /** Logs as the channel, which operators know. */
    private static final Logger LOG = LoggerFactory.getLogger(SocketTensorChannel.class);
    static final int MAX_CONCURRENT_HANDSHAKES = 64;
    private static final long MIN_BACKOFF_MILLIS = 10;
    private static final long MAX_BACKOFF_MILLIS = 1000;

    private final TransportConfig config;
    private final int localRank;
    private final WireFactory wires;
    private final LinkRegistry links;
    private final Semaphore handshakes = new Semaphore(MAX_CONCURRENT_HANDSHAKES);
    private final Thread thread;

    Acceptor(TransportConfig config, int localRank, WireFactory wires, LinkRegistry links) {
        this.config = config;
        this.localRank = localRank;
        this.wires = wires;
        this.links = links;
        this.thread = new Thread(this::acceptLoop, "sparkmp-transport-" + localRank + "-acceptor");
        thread.setDaemon(true);
    }

    void start() {
        thread.start();
    }

    void join(long millis) throws InterruptedException {
        thread.join(millis);
    }

    private void acceptLoop() {
        long backoff = MIN_BACKOFF_MILLIS;
        while (!links.closed()) {
            AutoCloseable accepted;
            try {
                accepted = wires.accept();
                backoff = MIN_BACKOFF_MILLIS;
            } catch (Exception e) {
                if (!links.closed()) {
                    LOG.warn("rank {}: accept failed (next try in {} ms): {}", localRank, backoff, e.toString());
                    try {
                        links.awaitClosed(backoff);
                    } catch (InterruptedException ie) {
                        return;
                    }
                    backoff = Math.min(MAX_BACKOFF_MILLIS, backoff * 2);
                }
                continue;
            }
            if (!handshakes.tryAcquire()) {
                LOG.warn("rank {}: refused a connection: {} handshakes already in progress", localRank,
                        MAX_CONCURRENT_HANDSHAKES);
                WireFactory.closeQuietly(accepted, null);
                continue;
            }
            Thread t = new Thread(() -> {
                try {
                    handleIncoming(accepted);
                } finally {
                    handshakes.release();
                }
            }, "sparkmp-transport-" + localRank + "-handshake");
            t.setDaemon(true);
            t.start();
        }
    }

    private void handleIncoming(AutoCloseable accepted) {
        Wire w = null;
        String from = WireFactory.remoteOf(accepted);
        int[] admitted = {-1};
        long timeout = Math.min(config.connectTimeout().toMillis(), config.readTimeout().toMillis());
        try {
            w = wires.acceptedWire(accepted, (int) timeout);
            int rank = Handshake.accept(w, config, localRank, (dialer, target) -> {
                String r = links.admit(dialer);
                if (r == null) {
                    admitted[0] = dialer;
                }
                return r;
            }, timeout);
            links.register(rank, w);
            LOG.info("rank {}: accepted link from rank {} ({})", localRank, rank, from);
        } catch (Exception e) {
            String reason = e instanceof Handshake.Refused ? e.getMessage()
                    : e.getClass().getSimpleName() + ": " + e.getMessage();
            LOG.warn("rank {}: refused connection from {}: {}", localRank, from, reason);
            if (admitted[0] >= 0) {
                links.unreserve(admitted[0]);
            }
            WireFactory.closeQuietly(w != null ? w : accepted, e);
        }
    }
}
