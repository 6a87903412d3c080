package io.sparkmp.transport;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;

/**
 * Plain or TLS, both ends of a connection: the server socket a channel listens on, the {@link Wire}s it dials
 * and those it makes of accepted connections (TLS handshake included), and the TLS key material. Plain TCP
 * uses a non-blocking {@link NioWire}; TLS a blocking {@link StreamWire} over an {@code SSLSocket}.
 */
final class WireFactory implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(WireFactory.class);
    private static final int BACKLOG = 128;

    private final TransportConfig config;
    private final SSLContext ssl;
    private final ServerSocketChannel plainServer;
    private final ServerSocket tlsServer;
    private final InetSocketAddress localAddress;

    /**
     * Binds the server on an ephemeral port of {@code config.bindHost()}.
     *
     * @throws TransportException if the TLS key material cannot be loaded
     */
    WireFactory(TransportConfig config) throws IOException {
        this.config = config;
        this.ssl = config.tlsEnabled() ? sslContext(config.tls()) : null;
        InetSocketAddress bind = new InetSocketAddress(config.bindHost(), 0);
        if (ssl == null) {
            plainServer = ServerSocketChannel.open();
            tlsServer = null;
            plainServer.bind(bind, BACKLOG);
            localAddress = advertised((InetSocketAddress) plainServer.getLocalAddress());
        } else {
            plainServer = null;
            tlsServer = new ServerSocket();
            tlsServer.bind(bind, BACKLOG);
            localAddress = advertised((InetSocketAddress) tlsServer.getLocalSocketAddress());
        }
    }

    /** A wildcard bind (0.0.0.0) cannot be dialled: advertise the local host's address with the port instead. */
    private static InetSocketAddress advertised(InetSocketAddress bound) throws IOException {
        if (!bound.getAddress().isAnyLocalAddress()) {
            return bound;
        }
        return new InetSocketAddress(InetAddress.getLocalHost(), bound.getPort());
    }

    InetSocketAddress localAddress() {
        return localAddress;
    }

    /** Blocks until a peer connects; the raw connection, made a wire by {@link #acceptedWire} (off this thread). */
    AutoCloseable accept() throws IOException {
        return ssl == null ? plainServer.accept() : tlsServer.accept();
    }

    /** The remote address of an accepted connection, for log lines. */
    static String remoteOf(AutoCloseable accepted) {
        try {
            return accepted instanceof SocketChannel ch ? String.valueOf(ch.getRemoteAddress())
                    : String.valueOf(((Socket) accepted).getRemoteSocketAddress());
        } catch (IOException e) {
            return String.valueOf(accepted);
        }
    }

    /** The wire of an accepted connection; for TLS runs the server side of the handshake within the timeout. */
    Wire acceptedWire(AutoCloseable accepted, int timeoutMillis) throws IOException {
        if (accepted instanceof SocketChannel ch) {
            return new NioWire(ch);
        }
        Socket raw = (Socket) accepted;
        raw.setTcpNoDelay(true);
        SSLSocket s = (SSLSocket) ssl.getSocketFactory().createSocket(raw, null, raw.getPort(), true);
        s.setUseClientMode(false);
        s.setNeedClientAuth(config.tls().trustStore() != null);
        s.setSoTimeout(timeoutMillis);
        s.startHandshake();
        return new StreamWire(s, raw);
    }

    /** Connects to {@code address} (TLS: and runs the client side of the handshake) within the timeout. */
    Wire dial(InetSocketAddress address, int timeoutMillis) throws IOException {
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

    /** Closes the server socket (a thread blocked in {@link #accept} fails); never throws. */
    @Override
    public void close() {
        closeQuietly(ssl == null ? plainServer : tlsServer, null);
    }

    /** Closes {@code c}; an error is attached to {@code primary} (the error being handled), else logged. */
    static void closeQuietly(AutoCloseable c, Throwable primary) {
        if (c == null) {
            return;
        }
        try {
            c.close();
        } catch (Exception e) {
            if (primary != null) {
                primary.addSuppressed(e);
            } else {
                LOG.debug("error while closing {}", c, e);
            }
        }
    }

    private static SSLContext sslContext(TlsSettings tls) {
        try {
            KeyStore ks = KeyStore.getInstance(tls.keyStoreType());
            try (InputStream in = Files.newInputStream(Path.of(tls.keyStore()))) {
                ks.load(in, tls.keyStorePassword());
            }
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(ks, tls.keyStorePassword());
            TrustManagerFactory tmf = null;
            if (tls.trustStore() != null) {
                KeyStore ts = KeyStore.getInstance(tls.keyStoreType());
                try (InputStream in = Files.newInputStream(Path.of(tls.trustStore()))) {
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
