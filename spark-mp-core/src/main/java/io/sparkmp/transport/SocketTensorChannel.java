package io.sparkmp.transport;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * {@link TensorChannel} over direct TCP (optionally TLS) connections between the tasks of one job.
 *
 * <p>Life cycle, per task: {@link #open} binds a server on an ephemeral port; the tasks exchange
 * {@link #localAddress()} (e.g. through Spark's barrier {@code allGather}); every task calls
 * {@link #connect} with the peers it talks to; then {@link #send}, {@link #receive}, {@link #recycle};
 * finally {@link #close}. Of each pair of ranks the lower one dials and the higher one accepts, so both must
 * name each other in {@code connect}. Each connection is mutually authenticated with the job secret
 * (HMAC-SHA256 challenge-response) before it carries a frame; refused peers are logged with the reason and
 * the server keeps serving.
 *
 * <p>This class is the public face and the life cycle; the parts are package-private: {@link WireFactory}
 * (server socket, plain/TLS wires), {@link Acceptor} and {@link Dialer} (the two ends of linking),
 * {@link LinkRegistry} (links by rank), {@link TensorPayload} (a tensor as header and bytes) and one
 * {@link Link} per peer.
 *
 * <p>Misuse: a rank must not be opened twice in one job; a tensor must not be changed after {@link #send}
 * (it is written from its own memory, later, by the link's writer thread); an array must not be used after
 * {@link #recycle}. All methods are thread-safe; frames to one peer are delivered in send order.
 */
@io.sparkmp.Internal
public final class SocketTensorChannel implements TensorChannel {
    private static final Logger LOG = LoggerFactory.getLogger(SocketTensorChannel.class);

    private final TransportConfig config;
    private final int localRank;
    private final ReceivePool pool;
    private final WireFactory wires;
    private final LinkRegistry links;
    private final Acceptor acceptor;
    private final Dialer dialer;

    private SocketTensorChannel(TransportConfig config, int localRank, ReceivePool pool) throws IOException {
        this.config = config;
        this.localRank = localRank;
        this.pool = pool;
        this.wires = new WireFactory(config);
        this.links = new LinkRegistry(config, localRank, pool);
        this.acceptor = new Acceptor(config, localRank, wires, links);
        this.dialer = new Dialer(config, localRank, wires, links);
    }

    /**
     * Opens this task's channel: binds its server on an ephemeral port of {@code config.bindHost()} and starts
     * accepting (and authenticating) peers. Call it on the task's thread once its device is bound: on a GPU
     * backend the channel allocates received arrays on that device and keeps host and device copies in step.
     *
     * @throws IllegalArgumentException if {@code localRank} is negative
     * @throws TransportException if the server cannot bind or the TLS key material cannot be loaded
     */
    public static SocketTensorChannel open(TransportConfig config, int localRank) {
        return open(config, localRank, new ReceivePool(config.maxPooledBytes()));
    }

    static SocketTensorChannel open(TransportConfig config, int localRank, ReceivePool pool) {
        if (config == null) {
            throw new IllegalArgumentException("config must not be null");
        }
        if (localRank < 0) {
            throw new IllegalArgumentException("localRank must be >= 0, found " + localRank);
        }
        try {
            SocketTensorChannel c = new SocketTensorChannel(config, localRank, pool);
            c.acceptor.start();
            LOG.info("rank {}: tensor channel of job {} listening on {}{}", localRank, config.jobId(),
                    c.localAddress(), config.tlsEnabled() ? " (TLS)" : "");
            return c;
        } catch (IOException e) {
            throw new TransportException("rank " + localRank + " cannot bind its channel server on "
                    + config.bindHost() + ": " + e.getMessage(), e);
        }
    }

    @Override
    public int localRank() {
        return localRank;
    }

    /**
     * The address peers dial; hand it to them (e.g. through {@code allGather}). For a wildcard
     * {@code bindHost} (0.0.0.0) it is the local host's address with the bound port.
     */
    public InetSocketAddress localAddress() {
        return wires.localAddress();
    }

    /**
     * Links this task to each of {@code peers} (rank to address): dials the higher ranks, waits for the lower
     * ones to dial in. May be called again with further peers. Only linked peers can be sent to or received
     * from; any other rank fails at once, naming both ranks.
     *
     * @throws IllegalArgumentException if {@code peers} names this rank or a negative rank
     * @throws TransportException if a peer refuses (wrong secret, job id or version) or not every link is up
     *         within {@code connectTimeout}; the message names the missing ranks and their addresses
     */
    public void connect(Map<Integer, InetSocketAddress> peers) {
        requireOpen();
        if (peers == null) {
            throw new IllegalArgumentException("peers must not be null");
        }
        for (Map.Entry<Integer, InetSocketAddress> e : peers.entrySet()) {
            if (e.getKey() == null || e.getKey() < 0 || e.getKey() == localRank) {
                throw new IllegalArgumentException("peers must name other ranks >= 0, found " + e.getKey()
                        + " (this is rank " + localRank + ")");
            }
            if (e.getValue() == null) {
                throw new IllegalArgumentException("peer rank " + e.getKey() + " has no address");
            }
        }
        long deadline = System.nanoTime() + config.connectTimeout().toNanos();
        List<String> failures = new ArrayList<>();
        Map<Integer, InetSocketAddress> lower = new TreeMap<>();
        for (Map.Entry<Integer, InetSocketAddress> e : new TreeMap<>(peers).entrySet()) {
            int peer = e.getKey();
            if (peer < localRank) {
                lower.put(peer, e.getValue());
            } else if (links.get(peer, false) == null) {
                try {
                    dialer.dial(peer, e.getValue(), deadline);
                } catch (TransportException ex) {
                    failures.add(ex.getMessage());
                }
            }
        }
        List<String> missing;
        try {
            // After a dial failure the call fails now; it only lists who has not dialled in yet.
            missing = links.awaitLinked(lower, failures.isEmpty() ? deadline : System.nanoTime());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new TransportException("rank " + localRank + " interrupted while connecting", e);
        }
        if (missing.isEmpty() && failures.isEmpty()) {
            return;
        }
        StringBuilder m = new StringBuilder("rank " + localRank + " could not link to all peers");
        if (!failures.isEmpty()) {
            m.append("; dial failures: ").append(String.join("; ", failures));
        }
        if (!missing.isEmpty()) {
            m.append("; no authenticated connection within connectTimeout (").append(config.connectTimeout().toMillis())
                    .append(" ms) from ").append(missing).append(", which should dial ").append(localAddress());
        }
        throw new TransportException(m.toString());
    }

    /**
     * {@inheritDoc}
     *
     * <p>Contiguous arrays are written from their own memory; views that are not contiguous are copied once.
     * Arrays in a workspace are detached (copied) first. Blocks while {@code maxInFlightBytes} are queued for
     * that peer, at most {@code sendTimeout}.
     *
     * @throws IllegalArgumentException for a null key or tensor, or a dtype without a fixed width (UTF8)
     * @throws TransportException when the peer is not linked, the queue stays full past {@code sendTimeout},
     *         the link failed, or the tensor exceeds {@code maxFrameBytes}
     */
    @Override
    public void send(int peerRank, TensorKey key, INDArray tensor) {
        requireOpen();
        if (key == null || tensor == null) {
            throw new IllegalArgumentException("key and tensor must not be null");
        }
        Link link = links.get(peerRank, true);
        TensorPayload p = TensorPayload.of(config, key, tensor, pool.sync());
        link.send(key, p.header(), p.payload(), p.source());
    }

    /**
     * {@inheritDoc}
     *
     * @throws TransportException after {@code receiveTimeout}, or at once when the peer is not linked, the link
     *         to it fails or the peer closes; the message names the peer rank and address and the key (step,
     *         micro-batch)
     */
    @Override
    public INDArray receive(int peerRank, TensorKey key) {
        requireOpen();
        if (key == null) {
            throw new IllegalArgumentException("key must not be null");
        }
        return links.get(peerRank, true).receive(key);
    }

    /** {@inheritDoc} Dense arrays (one block of memory, not in a workspace) only; others are ignored. */
    @Override
    public void expectInto(int peerRank, TensorKey key, INDArray destination) {
        requireOpen();
        if (key == null || destination == null) {
            throw new IllegalArgumentException("key and destination must not be null");
        }
        links.get(peerRank, true).expectInto(key, destination);
    }

    /** {@inheritDoc} Fails as {@link #receive(int, TensorKey)} does, after {@code timeoutMillis}. */
    @Override
    public INDArray receive(int peerRank, TensorKey key, long timeoutMillis) {
        requireOpen();
        if (key == null) {
            throw new IllegalArgumentException("key must not be null");
        }
        if (timeoutMillis <= 0) {
            throw new IllegalArgumentException("timeoutMillis must be positive, found " + timeoutMillis);
        }
        return links.get(peerRank, true).receive(key, TimeUnit.MILLISECONDS.toNanos(timeoutMillis));
    }

    /** {@inheritDoc} Arrays that are views, workspace-attached or beyond the pool's budget are ignored. */
    @Override
    public void recycle(INDArray received) {
        if (!links.closed()) {
            pool.recycle(received);
        }
    }

    /**
     * Closes every link (queued frames get up to {@code closeTimeout} to be written, then each peer is told
     * goodbye) and the server. Idempotent; never throws: cleanup errors are logged or attached to the link's
     * failure as suppressed exceptions.
     */
    @Override
    public void close() {
        List<Link> all = links.close();
        if (all == null) {
            return;
        }
        wires.close();
        for (Link l : all) {
            l.beginClose();
        }
        long deadline = System.nanoTime() + config.closeTimeout().toNanos();
        for (Link l : all) {
            l.awaitClose(deadline);
        }
        try {
            acceptor.join(1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        pool.clear();
        LOG.info("rank {}: tensor channel closed", localRank);
    }

    private void requireOpen() {
        if (links.closed()) {
            throw new TransportException("rank " + localRank + "'s tensor channel is closed");
        }
    }
}
