package io.sparkmp.transport;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.factory.Nd4j;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Peers with a wrong secret, job id or protocol version, or no handshake at all, are refused with a reason
 * the dialer sees; the server keeps serving and a correct peer links afterwards.
 */
class SecurityTest {
    private TransportConfig config;
    private SocketTensorChannel server; // rank 1: accepts rank 0
    private CompletableFuture<Void> serverConnect;

    @BeforeEach
    void openServer() {
        // a short read timeout also bounds how long a silent connection may hold a handshake thread
        config = Loopback.builder("security").readTimeout(java.time.Duration.ofSeconds(1))
                .connectTimeout(java.time.Duration.ofSeconds(5)).build();
        server = SocketTensorChannel.open(config, 1);
    }

    @AfterEach
    void closeServer() {
        server.close();
    }

    /** Starts rank 1's connect, which waits for rank 0 to dial in. */
    private void serverWaitsForRank0() {
        serverConnect = CompletableFuture.runAsync(
                () -> server.connect(Map.of(0, new InetSocketAddress("127.0.0.1", 9))));
    }

    /** A correct rank 0 links after the bad attempt and a frame goes through. */
    private void correctPeerStillLinks() throws Exception {
        try (SocketTensorChannel good = SocketTensorChannel.open(config, 0)) {
            good.connect(Map.of(1, server.localAddress()));
            serverConnect.get(10, TimeUnit.SECONDS);
            TensorKey k = Loopback.key(1, 2);
            good.send(1, k, Nd4j.createFromArray(1f, 2f, 3f));
            assertArrayEquals(new float[] {1, 2, 3}, server.receive(0, k).toFloatVector(), 0f);
        }
    }

    private static TransportConfig.Builder shortConnect(TransportConfig.Builder b) {
        return b.connectTimeout(java.time.Duration.ofSeconds(3));
    }

    @Test
    void dialerWithWrongSecretIsRefused() throws Exception {
        serverWaitsForRank0();
        byte[] wrong = "another secret of thirty-two b!!".getBytes(StandardCharsets.UTF_8);
        TransportConfig bad = shortConnect(TransportConfig.builder("security", wrong).bindHost("127.0.0.1")).build();
        try (SocketTensorChannel intruder = SocketTensorChannel.open(bad, 0)) {
            long t0 = System.nanoTime();
            TransportException e = assertThrows(TransportException.class,
                    () -> intruder.connect(Map.of(1, server.localAddress())));
            assertTrue(e.getMessage().contains("authentication failed"), e.getMessage());
            assertTrue(e.getMessage().contains("rank 1"), e.getMessage());
            assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(2), "refusal is not retried");
        }
        assertFalse(serverConnect.isDone(), "the server still waits for the real rank 0");
        correctPeerStillLinks();
    }

    @Test
    void acceptorWithWrongSecretIsRefusedByTheDialer() throws Exception {
        byte[] wrong = "another secret of thirty-two b!!".getBytes(StandardCharsets.UTF_8);
        TransportConfig bad = TransportConfig.builder("security", wrong).bindHost("127.0.0.1").build();
        try (SocketTensorChannel impostor = SocketTensorChannel.open(bad, 1)) {
            try (SocketTensorChannel dialer = SocketTensorChannel.open(config, 0)) {
                TransportException e = assertThrows(TransportException.class,
                        () -> dialer.connect(Map.of(1, impostor.localAddress())));
                assertTrue(e.getMessage().contains("proof did not verify"), e.getMessage());
            }
        }
    }

    @Test
    void wrongJobIdIsRefusedWithTheReason() throws Exception {
        serverWaitsForRank0();
        TransportConfig other = shortConnect(Loopback.builder("another-job")).build();
        try (SocketTensorChannel stranger = SocketTensorChannel.open(other, 0)) {
            TransportException e = assertThrows(TransportException.class,
                    () -> stranger.connect(Map.of(1, server.localAddress())));
            assertTrue(e.getMessage().contains("job id 'another-job' does not match"), e.getMessage());
        }
        correctPeerStillLinks();
    }

    @Test
    void wrongProtocolVersionIsRefusedWithTheReason() throws Exception {
        serverWaitsForRank0();
        try (Socket s = new Socket()) {
            s.connect(server.localAddress(), 2000);
            s.setSoTimeout(5000);
            OutputStream out = s.getOutputStream();
            byte[] body = new byte[64];
            out.write(ByteBuffer.allocate(9 + body.length).putInt(Handshake.MAGIC).putShort((short) 99)
                    .put((byte) Handshake.HELLO).putShort((short) body.length).put(body).array());
            String reply = readReject(s.getInputStream());
            assertTrue(reply.contains("protocol version 99 is not supported"), reply);
        }
        correctPeerStillLinks();
    }

    @Test
    void garbageInsteadOfAHandshakeIsRefused() throws Exception {
        serverWaitsForRank0();
        try (Socket s = new Socket()) {
            s.connect(server.localAddress(), 2000);
            s.setSoTimeout(5000);
            s.getOutputStream().write("GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            assertDropped(s);
        }
        correctPeerStillLinks();
    }

    @Test
    void aSilentConnectionDoesNotBlockOthers() throws Exception {
        serverWaitsForRank0();
        try (Socket silent = new Socket()) {
            silent.connect(server.localAddress(), 2000);
            // Nothing is sent on `silent`; the correct peer must link while it is still open.
            correctPeerStillLinks();
            silent.setSoTimeout(10_000);
            long t0 = System.nanoTime();
            assertDropped(silent);
            assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(3), "dropped after the 1 s read timeout");
        }
    }

    @Test
    void aHigherRankMayNotDial() throws Exception {
        try (SocketTensorChannel rank2 = SocketTensorChannel.open(config, 2)) {
            try (FakePeer ignored = FakePeer.dial(config, 2, 1, server.localAddress())) {
                throw new AssertionError("rank 2 must not be admitted by rank 1");
            } catch (TransportException e) {
                assertTrue(e.getMessage().contains("the lower rank dials"), e.getMessage());
            }
        }
    }

    @Test
    void secretNeverAppearsInConfigText() {
        String text = config.toString();
        assertFalse(text.contains(new String(Loopback.SECRET, StandardCharsets.UTF_8)), text);
        assertTrue(text.contains("secret=<hidden>"), text);
    }

    /** The server ends the connection: end of stream or reset (it closed with our bytes unread). */
    private static void assertDropped(Socket s) throws java.io.IOException {
        try {
            InputStream in = s.getInputStream();
            while (in.read() >= 0) {
                // a REJECT with the reason may come first
            }
        } catch (java.net.SocketException reset) {
            assertTrue(reset.getMessage().contains("reset"), reset.getMessage());
        }
    }

    /** Reads a handshake REJECT and returns its reason. */
    private static String readReject(InputStream in) throws java.io.IOException {
        byte[] head = in.readNBytes(9);
        ByteBuffer h = ByteBuffer.wrap(head);
        assertEquals(Handshake.MAGIC, h.getInt());
        h.getShort();
        assertEquals(Handshake.REJECT, h.get());
        int len = h.getShort() & 0xFFFF;
        ByteBuffer body = ByteBuffer.wrap(in.readNBytes(len));
        int n = body.getShort() & 0xFFFF;
        byte[] reason = new byte[n];
        body.get(reason);
        return new String(reason, StandardCharsets.UTF_8);
    }
}
