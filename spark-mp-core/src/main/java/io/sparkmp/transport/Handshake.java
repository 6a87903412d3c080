package io.sparkmp.transport;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Mutual authentication at the start of every connection, by HMAC-SHA256 over fresh nonces with the
 * per-job secret. The secret itself never crosses the wire.
 *
 * <pre>
 * dialer   -> HELLO     job id, dialer rank, target rank, nonceD
 * acceptor -> CHALLENGE acceptor rank, nonceA, HMAC("acceptor" | job | ranks | nonceD | nonceA)   (or REJECT)
 * dialer   -> PROOF     HMAC("dialer" | job | ranks | nonceA | nonceD)                           (or REJECT)
 * acceptor -> ACCEPT                                                                              (or REJECT)
 * </pre>
 * Every message is {@code [magic u32][version u16][type u8][length u16][body]}; magic and version come first
 * so that a peer speaking another version is told so. A REJECT carries a reason for the other side's error.
 * The role labels keep one side's proof from being replayed as the other's.
 */
final class Handshake {
    static final int MAGIC = 0x53504D48; // "SPMH"
    static final int VERSION = FrameHeader.PROTOCOL_VERSION;
    static final int HELLO = 1;
    static final int CHALLENGE = 2;
    static final int PROOF = 3;
    static final int ACCEPT = 4;
    static final int REJECT = 5;
    static final int NONCE_BYTES = 32;
    static final int MAX_BODY = 1024;
    private static final SecureRandom RANDOM = new SecureRandom();

    /** A refusal: the connection must be dropped; the message says why. */
    static final class Refused extends TransportException {
        Refused(String message) {
            super(message);
        }
    }

    /** Decides whether an authenticated dialer rank may link; returns a refusal reason or null. */
    interface Admission {
        String refusal(int dialerRank, int targetRank);
    }

    private Handshake() {
    }

    /**
     * Runs the dialer's side.
     *
     * @throws Refused when the acceptor refuses or fails authentication
     * @throws IOException when the connection fails or times out
     */
    static void dial(Wire w, TransportConfig c, int localRank, int peerRank, long timeoutMillis) throws IOException {
        byte[] nonceD = nonce();
        ByteBuffer hello = ByteBuffer.allocate(MAX_BODY);
        putString(hello, c.jobId());
        hello.putInt(localRank).putInt(peerRank).put(nonceD);
        send(w, HELLO, hello.flip(), timeoutMillis);

        Message m = receive(w, timeoutMillis, "challenge");
        ByteBuffer b = m.expect(CHALLENGE);
        int acceptorRank = b.getInt();
        byte[] nonceA = bytes(b, NONCE_BYTES);
        byte[] macA = bytes(b, 32);
        if (acceptorRank != peerRank) {
            reject(w, "dialled rank " + peerRank + " but reached rank " + acceptorRank, timeoutMillis);
            throw new Refused("dialled rank " + peerRank + " but the server there is rank " + acceptorRank);
        }
        byte[] expected = mac(c, "acceptor", c.jobId(), localRank, peerRank, nonceD, nonceA);
        if (!MessageDigest.isEqual(expected, macA)) {
            reject(w, "the acceptor's proof did not verify: the two sides hold different secrets", timeoutMillis);
            throw new Refused("authentication failed: rank " + peerRank
                    + "'s proof did not verify (different job secret)");
        }
        byte[] macD = mac(c, "dialer", c.jobId(), localRank, peerRank, nonceA, nonceD);
        send(w, PROOF, ByteBuffer.wrap(macD), timeoutMillis);
        receive(w, timeoutMillis, "acceptance").expect(ACCEPT);
    }

    /**
     * Runs the acceptor's side.
     *
     * @return the authenticated dialer's rank
     * @throws Refused when the dialer is refused (it has been told why, when possible)
     * @throws IOException when the connection fails or times out
     */
    static int accept(Wire w, TransportConfig c, int localRank, Admission admission, long timeoutMillis)
            throws IOException {
        Message m = receive(w, timeoutMillis, "hello");
        ByteBuffer b = m.expect(HELLO);
        String jobId = getString(b);
        int dialerRank = b.getInt();
        int targetRank = b.getInt();
        byte[] nonceD = bytes(b, NONCE_BYTES);
        if (!c.jobId().equals(jobId)) {
            throw refuse(w, "job id '" + jobId + "' does not match this server's job '" + c.jobId() + "'",
                    timeoutMillis);
        }
        if (targetRank != localRank) {
            throw refuse(w, "dialer wanted rank " + targetRank + " but this is rank " + localRank, timeoutMillis);
        }
        byte[] nonceA = nonce();
        byte[] macA = mac(c, "acceptor", jobId, dialerRank, localRank, nonceD, nonceA);
        ByteBuffer ch = ByteBuffer.allocate(4 + NONCE_BYTES + 32).putInt(localRank).put(nonceA).put(macA);
        send(w, CHALLENGE, ch.flip(), timeoutMillis);

        ByteBuffer p = receive(w, timeoutMillis, "proof").expect(PROOF);
        byte[] macD = bytes(p, 32);
        byte[] expected = mac(c, "dialer", jobId, dialerRank, localRank, nonceA, nonceD);
        if (!MessageDigest.isEqual(expected, macD)) {
            throw refuse(w, "authentication failed: the dialer's proof did not verify (wrong or missing secret)",
                    timeoutMillis);
        }
        String refusal = admission.refusal(dialerRank, targetRank);
        if (refusal != null) {
            throw refuse(w, refusal, timeoutMillis);
        }
        send(w, ACCEPT, ByteBuffer.allocate(0), timeoutMillis);
        return dialerRank;
    }

    private static Refused refuse(Wire w, String reason, long timeoutMillis) {
        reject(w, reason, timeoutMillis);
        return new Refused(reason);
    }

    /** Tells the peer why it is refused; best effort (the peer may already be gone). */
    static void reject(Wire w, String reason, long timeoutMillis) {
        try {
            ByteBuffer b = ByteBuffer.allocate(MAX_BODY);
            putString(b, reason.length() > 300 ? reason.substring(0, 300) : reason);
            send(w, REJECT, b.flip(), Math.min(timeoutMillis, 1000));
        } catch (IOException | RuntimeException ignored) {
            // the refusal stands whether or not the peer hears it
        }
    }

    private record Message(int type, ByteBuffer body) {
        ByteBuffer expect(int wanted) {
            if (type == REJECT) {
                throw new Refused("refused by peer: " + getString(body));
            }
            if (type != wanted) {
                throw new Refused("handshake message type " + type + " where " + wanted + " was expected");
            }
            return body;
        }
    }

    private static void send(Wire w, int type, ByteBuffer body, long timeoutMillis) throws IOException {
        ByteBuffer head = ByteBuffer.allocate(9).putInt(MAGIC).putShort((short) VERSION).put((byte) type)
                .putShort((short) body.remaining()).flip();
        w.write(new ByteBuffer[] {head, body}, timeoutMillis);
    }

    private static Message receive(Wire w, long timeoutMillis, String what) throws IOException {
        ByteBuffer head = ByteBuffer.allocate(9);
        Wire.readFully(w, head, timeoutMillis, "handshake " + what);
        head.flip();
        int magic = head.getInt();
        if (magic != MAGIC) {
            Refused r = new Refused(String.format("not a spark-mp transport peer: bad handshake magic 0x%08x", magic));
            reject(w, r.getMessage(), timeoutMillis);
            throw r;
        }
        int version = head.getShort() & 0xFFFF;
        int type = head.get() & 0xFF;
        int length = head.getShort() & 0xFFFF;
        if (version != VERSION) {
            Refused r = new Refused("protocol version " + version + " is not supported (this side speaks "
                    + VERSION + ")");
            if (type != REJECT) {
                reject(w, r.getMessage(), timeoutMillis);
            }
            throw r;
        }
        if (length > MAX_BODY) {
            throw new Refused("handshake body of " + length + " bytes exceeds " + MAX_BODY);
        }
        ByteBuffer body = ByteBuffer.allocate(length);
        Wire.readFully(w, body, timeoutMillis, "handshake " + what);
        body.flip();
        return new Message(type, body);
    }

    static byte[] mac(TransportConfig c, String role, String jobId, int dialerRank, int acceptorRank, byte[] first,
                      byte[] second) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(c.secretForMac(), "HmacSHA256"));
            mac.update(role.getBytes(StandardCharsets.UTF_8));
            mac.update((byte) 0);
            mac.update(jobId.getBytes(StandardCharsets.UTF_8));
            mac.update((byte) 0);
            mac.update(ByteBuffer.allocate(8).putInt(dialerRank).putInt(acceptorRank).array());
            mac.update(first);
            return mac.doFinal(second);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is not available in this JVM", e);
        }
    }

    private static byte[] nonce() {
        byte[] n = new byte[NONCE_BYTES];
        RANDOM.nextBytes(n);
        return n;
    }

    private static void putString(ByteBuffer b, String s) {
        byte[] u = s.getBytes(StandardCharsets.UTF_8);
        b.putShort((short) u.length).put(u);
    }

    private static String getString(ByteBuffer b) {
        int n = b.remaining() < 2 ? -1 : b.getShort() & 0xFFFF;
        return new String(bytes(b, n), StandardCharsets.UTF_8);
    }

    private static byte[] bytes(ByteBuffer b, int n) {
        if (n < 0 || b.remaining() < n) {
            throw new Refused("handshake message too short: wanted " + n + " bytes, has " + b.remaining());
        }
        byte[] out = new byte[n];
        b.get(out);
        return out;
    }
}
