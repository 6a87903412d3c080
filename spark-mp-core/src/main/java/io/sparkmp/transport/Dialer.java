package io.sparkmp.transport;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;

/**
 * Dials one higher rank: connects, authenticates ({@link Handshake#dial}) and registers the link, retrying
 * a failed connection with exponential back-off (50 ms doubling to 1 s) within {@code connectTimeout} and
 * {@code connectRetries}. A peer that refuses the handshake is not retried: its answer will not change.
 */
final class Dialer {
    /** Logs as the channel, which operators know. */
    private static final Logger LOG = LoggerFactory.getLogger(SocketTensorChannel.class);

    private final TransportConfig config;
    private final int localRank;
    private final WireFactory wires;
    private final LinkRegistry links;

    Dialer(TransportConfig config, int localRank, WireFactory wires, LinkRegistry links) {
        this.config = config;
        this.localRank = localRank;
        this.wires = wires;
        this.links = links;
    }

    /**
     * Links to {@code peer} by {@code deadline} (nanoTime).
     *
     * @throws TransportException if the peer refuses, or no attempt succeeded in time; names the peer, the
     *     attempts and the last error
     */
    void dial(int peer, InetSocketAddress address, long deadline) {
        String name = "rank " + peer + " (" + address + ")";
        Exception last = null;
        long backoff = 50;
        int attempt = 0;
        while (attempt < config.connectRetries()) {
            long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            if (left <= 0) {
                break;
            }
            attempt++;
            Wire w = null;
            try {
                w = wires.dial(address, (int) Math.min(Integer.MAX_VALUE, left));
                Handshake.dial(w, config, localRank, peer, Math.min(left, config.readTimeout().toMillis()));
                links.register(peer, w);
                LOG.info("rank {}: linked to {}", localRank, name);
                return;
            } catch (Handshake.Refused e) {
                WireFactory.closeQuietly(w, e);
                LOG.warn("rank {}: {} refused the link: {}", localRank, name, e.getMessage());
                throw new TransportException(name + " refused the link: " + e.getMessage(), e);
            } catch (IOException | RuntimeException e) {
                WireFactory.closeQuietly(w, e);
                last = e;
                long pause = Math.min(backoff, Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
                try {
                    if (links.awaitClosed(pause)) {
                        throw new TransportException("rank " + localRank + " closed while dialling " + name, e);
                    }
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new TransportException("rank " + localRank + " interrupted while dialling " + name, ie);
                }
                backoff = Math.min(1000, backoff * 2);
            }
        }
        throw new TransportException("cannot connect to " + name + " after " + attempt + " attempt(s) within "
                + config.connectTimeout().toMillis() + " ms: " + (last == null ? "no time left" : last), last);
    }
}
