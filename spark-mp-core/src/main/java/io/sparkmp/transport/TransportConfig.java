package io.sparkmp.transport;

import java.io.Serializable;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;

/**
 * Settings of one task's {@link SocketTensorChannel}; immutable. Build with {@link #builder(String, byte[])}.
 *
 * <p>All tasks of one job must use the same {@code jobId} and {@code secret}: a peer with another job id
 * or secret is refused during the handshake. The secret is never printed by {@link #toString()} nor
 * logged; {@link #secret()} returns a copy. Serializable, so a driver can ship it to executors inside a
 * job description (which then carries the secret: ship it only over Spark's own authenticated RPC).
 *
 * @param jobId names the training job; sent in every handshake and frame header (not secret)
 * @param secret per-job shared secret for HMAC-SHA256 mutual authentication, at least 16 bytes
 * @param bindHost address the channel server binds to and advertises
 * @param connectTimeout total time {@link SocketTensorChannel#connect} waits for all links
 * @param connectRetries attempts per dialled peer whose server refuses or does not answer yet
 * @param receiveTimeout how long {@link TensorChannel#receive} waits for one frame
 * @param sendTimeout how long {@link TensorChannel#send} waits for room in the outbound queue
 * @param readTimeout longest pause allowed inside a frame (between its first and last byte)
 * @param idleTimeout longest silence allowed on a link between frames; heartbeats are sent at a quarter of it
 * @param closeTimeout how long close waits for queued frames to be written before it drops them
 * @param maxFrameBytes largest payload accepted or sent; checked before anything is allocated
 * @param maxInFlightBytes payload bytes queued per link before {@code send} blocks (back-pressure)
 * @param maxPooledBytes bytes of received arrays kept for reuse after {@link TensorChannel#recycle}
 * @param tls TLS settings, or {@code null} for plain TCP
 */
@io.sparkmp.Internal
public record TransportConfig(
        String jobId,
        byte[] secret,
        String bindHost,
        Duration connectTimeout,
        int connectRetries,
        Duration receiveTimeout,
        Duration sendTimeout,
        Duration readTimeout,
        Duration idleTimeout,
        Duration closeTimeout,
        long maxFrameBytes,
        long maxInFlightBytes,
        long maxPooledBytes,
        TlsSettings tls) implements Serializable {

    /** Longest job id accepted, in UTF-8 bytes. */
    public static final int MAX_JOB_ID_BYTES = 256;
    /** Shortest secret accepted, in bytes. */
    public static final int MIN_SECRET_BYTES = 16;
    /** Largest payload that fits one pooled ND4J receive buffer view: 2 GiB - 1. */
    public static final long DEFAULT_MAX_FRAME_BYTES = Integer.MAX_VALUE;

    public TransportConfig {
        if (jobId == null || jobId.isEmpty()) {
            throw new IllegalArgumentException("jobId must not be empty");
        }
        int idBytes = jobId.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        if (idBytes > MAX_JOB_ID_BYTES) {
            throw new IllegalArgumentException(
                    "jobId must be at most " + MAX_JOB_ID_BYTES + " UTF-8 bytes, found " + idBytes);
        }
        if (secret == null || secret.length < MIN_SECRET_BYTES) {
            throw new IllegalArgumentException("secret must have at least " + MIN_SECRET_BYTES + " bytes, found "
                    + (secret == null ? "none" : secret.length + " bytes"));
        }
        secret = secret.clone();
        if (bindHost == null || bindHost.isEmpty()) {
            throw new IllegalArgumentException("bindHost must not be empty");
        }
        requirePositive("connectTimeout", connectTimeout);
        requirePositive("receiveTimeout", receiveTimeout);
        requirePositive("sendTimeout", sendTimeout);
        requirePositive("readTimeout", readTimeout);
        requirePositive("idleTimeout", idleTimeout);
        requirePositive("closeTimeout", closeTimeout);
        if (connectRetries < 1) {
            throw new IllegalArgumentException("connectRetries must be >= 1, found " + connectRetries);
        }
        if (maxFrameBytes < 1 || maxFrameBytes > DEFAULT_MAX_FRAME_BYTES) {
            throw new IllegalArgumentException("maxFrameBytes must be in [1, " + DEFAULT_MAX_FRAME_BYTES
                    + "], found " + maxFrameBytes);
        }
        if (maxInFlightBytes < 1) {
            throw new IllegalArgumentException("maxInFlightBytes must be positive, found " + maxInFlightBytes);
        }
        if (maxPooledBytes < 0) {
            throw new IllegalArgumentException("maxPooledBytes must be >= 0, found " + maxPooledBytes);
        }
    }

    private static void requirePositive(String name, Duration d) {
        if (d == null || d.isZero() || d.isNegative()) {
            throw new IllegalArgumentException(name + " must be positive, found " + d);
        }
    }

    /** A copy of the shared secret. */
    @Override
    public byte[] secret() {
        return secret.clone();
    }

    /** The secret without a copy, for the handshake's HMAC only. */
    byte[] secretForMac() {
        return secret;
    }

    /** Whether connections use TLS. */
    public boolean tlsEnabled() {
        return tls != null;
    }

    /** A new random 32-byte secret from {@link SecureRandom}, for a driver to hand to every task of a job. */
    public static byte[] newSecret() {
        byte[] s = new byte[32];
        new SecureRandom().nextBytes(s);
        return s;
    }

    /** Starts a builder; every other setting has a default. */
    public static Builder builder(String jobId, byte[] secret) {
        return new Builder(jobId, secret);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TransportConfig c && jobId.equals(c.jobId) && Arrays.equals(secret, c.secret)
                && toString().equals(c.toString());
    }

    @Override
    public int hashCode() {
        return toString().hashCode();
    }

    @Override
    public String toString() {
        return "TransportConfig[jobId=" + jobId + ", secret=<hidden>, bindHost=" + bindHost
                + ", connectTimeout=" + connectTimeout + ", connectRetries=" + connectRetries
                + ", receiveTimeout=" + receiveTimeout + ", sendTimeout=" + sendTimeout
                + ", readTimeout=" + readTimeout + ", idleTimeout=" + idleTimeout + ", closeTimeout=" + closeTimeout
                + ", maxFrameBytes=" + maxFrameBytes + ", maxInFlightBytes=" + maxInFlightBytes
                + ", maxPooledBytes=" + maxPooledBytes + ", tls=" + tls + "]";
    }

    /**
     * Builds a {@link TransportConfig}. Each setting may be given at most once (a second call throws, so a
     * conflicting setting is not silently overwritten); {@link #build()} validates and does not change the
     * builder.
     */
    public static final class Builder {
        private final String jobId;
        private final byte[] secret;
        private final Set<String> set = new HashSet<>();
        private String bindHost;
        private Duration connectTimeout = Duration.ofSeconds(30);
        private int connectRetries = 10;
        private Duration receiveTimeout = Duration.ofSeconds(120);
        private Duration sendTimeout = Duration.ofSeconds(120);
        private Duration readTimeout = Duration.ofSeconds(60);
        private Duration idleTimeout = Duration.ofSeconds(60);
        private Duration closeTimeout = Duration.ofSeconds(10);
        private long maxFrameBytes = DEFAULT_MAX_FRAME_BYTES;
        private long maxInFlightBytes = 256L << 20;
        private long maxPooledBytes = 1L << 30;
        private TlsSettings tls;

        private Builder(String jobId, byte[] secret) {
            this.jobId = jobId;
            this.secret = secret == null ? null : secret.clone();
        }

        private void once(String name) {
            if (!set.add(name)) {
                throw new IllegalStateException(name + " was already set on this builder");
            }
        }

        /** Address to bind and advertise; default {@code InetAddress.getLocalHost()}'s address. */
        public Builder bindHost(String host) {
            once("bindHost");
            bindHost = host;
            return this;
        }

        /** Total time {@code connect} may take for all links; default 30 s. */
        public Builder connectTimeout(Duration d) {
            once("connectTimeout");
            connectTimeout = d;
            return this;
        }

        /** Attempts per dialled peer that refuses or does not answer yet, with back-off; default 10. */
        public Builder connectRetries(int n) {
            once("connectRetries");
            connectRetries = n;
            return this;
        }

        /** How long one {@code receive} waits; default 120 s. */
        public Builder receiveTimeout(Duration d) {
            once("receiveTimeout");
            receiveTimeout = d;
            return this;
        }

        /** How long {@code send} waits for room in a full outbound queue; default 120 s. */
        public Builder sendTimeout(Duration d) {
            once("sendTimeout");
            sendTimeout = d;
            return this;
        }

        /** Longest pause inside a frame or handshake; default 60 s. */
        public Builder readTimeout(Duration d) {
            once("readTimeout");
            readTimeout = d;
            return this;
        }

        /** Longest silence between frames (heartbeats go every quarter of it); default 60 s. */
        public Builder idleTimeout(Duration d) {
            once("idleTimeout");
            idleTimeout = d;
            return this;
        }

        /** How long {@code close} lets queued frames drain; default 10 s. */
        public Builder closeTimeout(Duration d) {
            once("closeTimeout");
            closeTimeout = d;
            return this;
        }

        /** Largest payload sent or accepted (checked before allocating); default 2 GiB - 1. */
        public Builder maxFrameBytes(long n) {
            once("maxFrameBytes");
            maxFrameBytes = n;
            return this;
        }

        /** Payload bytes queued per peer before {@code send} blocks; default 256 MiB. */
        public Builder maxInFlightBytes(long n) {
            once("maxInFlightBytes");
            maxInFlightBytes = n;
            return this;
        }

        /** Bytes of recycled receive arrays kept for reuse; default 1 GiB. */
        public Builder maxPooledBytes(long n) {
            once("maxPooledBytes");
            maxPooledBytes = n;
            return this;
        }

        /** Turns TLS on. */
        public Builder tls(TlsSettings settings) {
            once("tls");
            tls = settings;
            return this;
        }

        /** @throws IllegalArgumentException naming the first invalid setting */
        public TransportConfig build() {
            String host = bindHost;
            if (host == null) {
                try {
                    host = InetAddress.getLocalHost().getHostAddress();
                } catch (UnknownHostException e) {
                    throw new IllegalStateException("cannot resolve the local host address; set bindHost", e);
                }
            }
            return new TransportConfig(jobId, secret, host, connectTimeout, connectRetries, receiveTimeout,
                    sendTimeout, readTimeout, idleTimeout, closeTimeout, maxFrameBytes, maxInFlightBytes,
                    maxPooledBytes, tls);
        }
    }
}
