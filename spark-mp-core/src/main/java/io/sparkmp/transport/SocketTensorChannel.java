package io.sparkmp.transport;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

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
 * <p>Misuse: a rank must not be opened twice in one job; a tensor must not be changed after {@link #send}
 * (it is written from its own memory, later, by the link's writer thread); an array must not be used after
 * {@link #recycle}. All methods are thread-safe; frames to one peer are delivered in send order.
 */
public final class SocketTensorChannel implements TensorChannel {
    private static final Logger LOG = LoggerFactory.getLogger(SocketTensorChannel.class);
    private static final int MAX_CONCURRENT_HANDSHAKES = 64;

    private final TransportConfig config;
    private final int localRank;
    private final SSLContext ssl;
    private final ServerSocketChannel plainServer;
    private final ServerSocket tlsServer;
    private final InetSocketAddress localAddress;
    private final ReceivePool pool;
    private final Thread acceptor;
    private final Semaphore handshakes = new Semaphore(MAX_CONCURRENT_HANDSHAKES);

    private final ReentrantLock linksLock = new ReentrantLock();
    private final Condition linkUp = linksLock.newCondition();
    private final Map<Integer, Link> links = new TreeMap<>();
    private final Set<Integer> reserved = new TreeSet<>();
    private volatile boolean closed;

    private SocketTensorChannel(TransportConfig config, int localRank, ReceivePool pool) throws IOException {
        this.config = config;
        this.localRank = localRank;
        this.pool = pool;
        this.ssl = config.tlsEnabled() ? sslContext(config.tls()) : null;
        InetSocketAddress bind = new InetSocketAddress(config.bindHost(), 0);
        if (ssl == null) {
            plainServer = ServerSocketChannel.open();
            tlsServer = null;
            plainServer.bind(bind, 128);
            localAddress = advertised((InetSocketAddress) plainServer.getLocalAddress());
        } else {
            plainServer = null;
            tlsServer = new ServerSocket();
            tlsServer.bind(bind, 128);
            localAddress = advertised((InetSocketAddress) tlsServer.getLocalSocketAddress());
        }
        acceptor = new Thread(this::acceptLoop, "sparkmp-transport-" + localRank + "-acceptor");
        acceptor.setDaemon(true);
    }

    /** A wildcard bind (0.0.0.0) cannot be dialled: advertise the local host's address with the port instead. */
    private static InetSocketAddress advertised(InetSocketAddress bound) throws IOException {
        if (!bound.getAddress().isAnyLocalAddress()) {
            return bound;
        }
        return new InetSocketAddress(java.net.InetAddress.getLocalHost(), bound.getPort());
    }

    /**
     * Opens this task's channel: binds its server on an ephemeral port of {@code config.bindHost()} and starts
     * accepting (and authenticating) peers.
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
                    c.localAddress, config.tlsEnabled() ? " (TLS)" : "");
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
        return localAddress;
    }

    /**
     * Links this task to each of {@code peers} (rank to address): dials the higher ranks, waits for the lower
     * ones to dial in. May be called again with further peers.
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
        long timeoutMillis = config.connectTimeout().toMillis();
        long deadline = System.nanoTime() + config.connectTimeout().toNanos();
        List<String> failures = new ArrayList<>();
        for (Map.Entry<Integer, InetSocketAddress> e : new TreeMap<>(peers).entrySet()) {
            int peer = e.getKey();
            if (peer > localRank && link(peer, false) == null) {
                try {
                    dial(peer, e.getValue(), deadline);
                } catch (TransportException ex) {
                    failures.add(ex.getMessage());
                }
            }
        }
        linksLock.lock();
        try {
            while (true) {
                List<String> missing = new ArrayList<>();
                for (Map.Entry<Integer, InetSocketAddress> e : new TreeMap<>(peers).entrySet()) {
                    if (e.getKey() < localRank && !links.containsKey(e.getKey())) {
                        missing.add("rank " + e.getKey() + " (" + e.getValue() + ")");
                    }
                }
                if (missing.isEmpty() && failures.isEmpty()) {
                    return;
                }
                long left = deadline - System.nanoTime();
                if (!failures.isEmpty() || left <= 0 || closed) {
                    StringBuilder m = new StringBuilder("rank " + localRank + " could not link to all peers");
                    if (!failures.isEmpty()) {
                        m.append("; dial failures: ").append(String.join("; ", failures));
                    }
                    if (!missing.isEmpty()) {
                        m.append("; no authenticated connection within connectTimeout (").append(timeoutMillis)
                                .append(" ms) from ").append(missing).append(", which should dial ")
                                .append(localAddress);
                    }
                    throw new TransportException(m.toString());
                }
                linkUp.awaitNanos(left);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new TransportException("rank " + localRank + " interrupted while connecting", e);
        } finally {
            linksLock.unlock();
        }
    }

    private void dial(int peer, InetSocketAddress address, long deadline) {
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
                w = openWire(address, (int) Math.min(Integer.MAX_VALUE, left));
                Handshake.dial(w, config, localRank, peer, Math.min(left, config.readTimeout().toMillis()));
                register(peer, w);
                LOG.info("rank {}: linked to {}", localRank, name);
                return;
            } catch (Handshake.Refused e) {
                closeQuietly(w, e);
                LOG.warn("rank {}: {} refused the link: {}", localRank, name, e.getMessage());
                throw new TransportException(name + " refused the link: " + e.getMessage(), e);
            } catch (IOException | RuntimeException e) {
                closeQuietly(w, e);
                last = e;
                sleep(Math.min(backoff, Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()))));
                backoff = Math.min(1000, backoff * 2);
            }
        }
        throw new TransportException("cannot connect to " + name + " after " + attempt + " attempt(s) within "
                + config.connectTimeout().toMillis() + " ms: " + (last == null ? "no time left" : last), last);
    }

    private Wire openWire(InetSocketAddress address, int timeoutMillis) throws IOException {
        if (ssl == null) {
            SocketChannel ch = SocketChannel.open();
            try {
                ch.socket().connect(address, timeoutMillis);
                return new NioWire(ch);
            } catch (IOException | RuntimeException e) {
                ch.close();
                throw e;
            }
        }
        Socket raw = new Socket();
        try {
            raw.setTcpNoDelay(true);
            raw.connect(address, timeoutMillis);
            SSLSocket s = (SSLSocket) ssl.getSocketFactory()
                    .createSocket(raw, address.getHostString(), address.getPort(), true);
            s.setUseClientMode(true);
            s.setSoTimeout(timeoutMillis);
            s.startHandshake();
            return new StreamWire(s, raw);
        } catch (IOException | RuntimeException e) {
            raw.close();
            throw e;
        }
    }

    private void acceptLoop() {
        while (!closed) {
            Object accepted;
            try {
                accepted = ssl == null ? plainServer.accept() : tlsServer.accept();
            } catch (IOException | RuntimeException e) {
                if (!closed) {
                    LOG.warn("rank {}: accept failed: {}", localRank, e.toString());
                    sleep(10);
                }
                continue;
            }
            if (!handshakes.tryAcquire()) {
                LOG.warn("rank {}: refused a connection: {} handshakes already in progress", localRank,
                        MAX_CONCURRENT_HANDSHAKES);
                closeQuietly((AutoCloseable) accepted, null);
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

    private void handleIncoming(Object accepted) {
        Wire w = null;
        String from = String.valueOf(accepted);
        int[] admitted = {-1};
        long timeout = Math.min(config.connectTimeout().toMillis(), config.readTimeout().toMillis());
        try {
            if (accepted instanceof SocketChannel ch) {
                from = String.valueOf(ch.getRemoteAddress());
                w = new NioWire(ch);
            } else {
                Socket raw = (Socket) accepted;
                from = String.valueOf(raw.getRemoteSocketAddress());
                raw.setTcpNoDelay(true);
                SSLSocket s = (SSLSocket) ssl.getSocketFactory().createSocket(raw, null, raw.getPort(), true);
                s.setUseClientMode(false);
                s.setNeedClientAuth(config.tls().trustStore() != null);
                s.setSoTimeout((int) timeout);
                s.startHandshake();
                w = new StreamWire(s, raw);
            }
            int rank = Handshake.accept(w, config, localRank, (dialer, target) -> {
                String r = admit(dialer);
                if (r == null) {
                    admitted[0] = dialer;
                }
                return r;
            }, timeout);
            register(rank, w);
            LOG.info("rank {}: accepted link from rank {} ({})", localRank, rank, from);
        } catch (Exception e) {
            String reason = e instanceof Handshake.Refused ? e.getMessage()
                    : e.getClass().getSimpleName() + ": " + e.getMessage();
            LOG.warn("rank {}: refused connection from {}: {}", localRank, from, reason);
            if (admitted[0] >= 0) {
                unreserve(admitted[0]);
            }
            if (w != null) {
                closeQuietly(w, e);
            } else {
                closeQuietly((AutoCloseable) accepted, e);
            }
        }
    }

    /** Whether an authenticated dialer may link; reserves its rank. */
    private String admit(int dialer) {
        linksLock.lock();
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
            linksLock.unlock();
        }
    }

    private void unreserve(int rank) {
        linksLock.lock();
        try {
            reserved.remove(rank);
        } finally {
            linksLock.unlock();
        }
    }

    private void register(int peer, Wire w) throws IOException {
        Link link = new Link(config, localRank, peer, w, pool);
        linksLock.lock();
        try {
            reserved.remove(peer);
            if (closed || links.containsKey(peer)) {
                w.close();
                throw new TransportException("rank " + localRank + (closed ? " is closed" : " already has a link to rank " + peer));
            }
            links.put(peer, link);
            link.start();
            linkUp.signalAll();
        } finally {
            linksLock.unlock();
        }
    }

    private Link link(int peer, boolean required) {
        linksLock.lock();
        try {
            Link l = links.get(peer);
            if (l == null && required) {
                throw new TransportException("rank " + localRank + " has no link to rank " + peer + " (linked: "
                        + links.keySet() + "); call connect with that peer first");
            }
            return l;
        } finally {
            linksLock.unlock();
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>Contiguous arrays are written from their own memory; views that are not contiguous are copied once.
     * Arrays in a workspace are detached (copied) first. Blocks while {@code maxInFlightBytes} are queued for
     * that peer, at most {@code sendTimeout}.
     *
     * @throws IllegalArgumentException for a null key or tensor, or a dtype without a fixed width (UTF8)
     * @throws TransportException when the queue stays full past {@code sendTimeout}, the link failed, or the
     *         tensor exceeds {@code maxFrameBytes}
     */
    @Override
    public void send(int peerRank, TensorKey key, INDArray tensor) {
        requireOpen();
        if (key == null || tensor == null) {
            throw new IllegalArgumentException("key and tensor must not be null");
        }
        Link link = link(peerRank, true);
        WireDataType dtype = WireDataType.of(tensor.dataType());
        INDArray a = tensor.isAttached() ? tensor.detach() : tensor;
        boolean empty = a.isEmpty();
        long elements = empty ? 0 : a.length();
        long bytes = elements * dtype.width;
        if (bytes > config.maxFrameBytes()) {
            throw new TransportException("tensor " + key + " of " + bytes + " bytes exceeds maxFrameBytes ("
                    + config.maxFrameBytes() + ")");
        }
        ByteBuffer payload = null;
        if (!empty) {
            payload = contiguousBytes(a, dtype, bytes);
            if (payload == null) {
                a = a.dup(a.ordering());
                payload = contiguousBytes(a, dtype, bytes);
                if (payload == null) {
                    throw new TransportException("cannot obtain the memory of " + key + " (" + a.shapeInfoToString()
                            + ") as one contiguous block");
                }
            }
        }
        FrameHeader h = FrameHeader.tensor(config.jobId(), key, dtype, a.ordering(), empty, a.shape(), bytes);
        link.send(key, h, payload, a);
    }

    /** The array's bytes as a direct buffer over its own memory, or null if they are not one block. */
    private static ByteBuffer contiguousBytes(INDArray a, WireDataType dtype, long bytes) {
        if (!hasDefaultStrides(a)) {
            return null;
        }
        ByteBuffer all = a.data().asNio();
        long start = a.offset() * dtype.width;
        if (all == null || start + bytes > all.capacity()) {
            return null;
        }
        ByteBuffer b = all.duplicate();
        b.limit((int) (start + bytes)).position((int) start);
        return b;
    }

    /** Whether {@code a}'s strides are the dense ones of its order (size-1 dimensions may have any stride). */
    static boolean hasDefaultStrides(INDArray a) {
        char order = a.ordering();
        if (order != 'c' && order != 'f') {
            return false;
        }
        long[] shape = a.shape();
        long[] stride = a.stride();
        long expected = 1;
        for (int k = 0; k < shape.length; k++) {
            int i = order == 'c' ? shape.length - 1 - k : k;
            if (shape[i] != 1 && stride[i] != expected) {
                return false;
            }
            expected *= shape[i];
        }
        return true;
    }

    /**
     * {@inheritDoc}
     *
     * @throws TransportException after {@code receiveTimeout}, or at once when the link to that peer fails or
     *         the peer closes; the message names the peer rank and address and the key (step, micro-batch)
     */
    @Override
    public INDArray receive(int peerRank, TensorKey key) {
        requireOpen();
        if (key == null) {
            throw new IllegalArgumentException("key must not be null");
        }
        return link(peerRank, true).receive(key);
    }

    /** {@inheritDoc} Arrays that are views, workspace-attached or beyond the pool's budget are ignored. */
    @Override
    public void recycle(INDArray received) {
        if (!closed) {
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
        List<Link> all;
        linksLock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            all = new ArrayList<>(links.values());
            linkUp.signalAll();
        } finally {
            linksLock.unlock();
        }
        closeQuietly(ssl == null ? plainServer : tlsServer, null);
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
        if (closed) {
            throw new TransportException("rank " + localRank + "'s tensor channel is closed");
        }
    }

    private void closeQuietly(AutoCloseable c, Throwable primary) {
        if (c == null) {
            return;
        }
        try {
            c.close();
        } catch (Exception e) {
            if (primary != null) {
                primary.addSuppressed(e);
            } else {
                LOG.debug("rank {}: error while closing {}", localRank, c, e);
            }
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new TransportException("interrupted", e);
        }
    }

    private static SSLContext sslContext(TlsSettings tls) {
        try {
            KeyStore ks = KeyStore.getInstance(tls.keyStoreType());
            try (InputStream in = Files.newInputStream(java.nio.file.Path.of(tls.keyStore()))) {
                ks.load(in, tls.keyStorePassword());
            }
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(ks, tls.keyStorePassword());
            TrustManagerFactory tmf = null;
            if (tls.trustStore() != null) {
                KeyStore ts = KeyStore.getInstance(tls.keyStoreType());
                try (InputStream in = Files.newInputStream(java.nio.file.Path.of(tls.trustStore()))) {
                    ts.load(in, tls.trustStorePassword());
                }
                tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
                tmf.init(ts);
            }
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(kmf.getKeyManagers(), tmf == null ? null : tmf.getTrustManagers(), null);
            return ctx;
        } catch (IOException | GeneralSecurityException e) {
            throw new TransportException("cannot load TLS key material from " + tls + ": " + e.getMessage(), e);
        }
    }
}
