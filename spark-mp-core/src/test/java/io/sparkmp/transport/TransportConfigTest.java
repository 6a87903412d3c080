package io.sparkmp.transport;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TransportConfigTest {
    @Test
    void defaults() throws Exception {
        TransportConfig c = TransportConfig.builder("job", Loopback.SECRET).build();
        assertEquals(java.net.InetAddress.getLocalHost().getHostAddress(), c.bindHost());
        assertEquals(Duration.ofSeconds(30), c.connectTimeout());
        assertEquals(Duration.ofSeconds(120), c.receiveTimeout());
        assertEquals(Integer.MAX_VALUE, c.maxFrameBytes());
        assertEquals(256L << 20, c.maxInFlightBytes());
        assertFalse(c.tlsEnabled());
    }

    @Test
    void badValuesAreNamedWithTheirValue() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Loopback.builder("job").maxFrameBytes(0).build());
        assertEquals("maxFrameBytes must be in [1, 2147483647], found 0", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Loopback.builder("job").receiveTimeout(Duration.ZERO).build());
        assertEquals("receiveTimeout must be positive, found PT0S", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> TransportConfig.builder("job", new byte[8]).build());
        assertEquals("secret must have at least 16 bytes, found 8 bytes", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Loopback.builder("job").connectRetries(0).build());
        assertEquals("connectRetries must be >= 1, found 0", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Loopback.builder("x".repeat(300)).build());
        assertTrue(e.getMessage().contains("at most 256 UTF-8 bytes, found 300"), e.getMessage());
    }

    @Test
    void aSettingMayBeGivenOnlyOnce() {
        TransportConfig.Builder b = Loopback.builder("job").idleTimeout(Duration.ofSeconds(1));
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> b.idleTimeout(Duration.ofSeconds(2)));
        assertEquals("idleTimeout was already set on this builder", e.getMessage());
    }

    @Test
    void secretsAreCopiedHiddenAndSurviveSerialization() throws Exception {
        byte[] secret = TransportConfig.newSecret();
        assertEquals(32, secret.length);
        assertFalse(Arrays.equals(secret, TransportConfig.newSecret()));
        TlsSettings tls = TlsSettings.sharedPkcs12(Path.of("/keys/job.p12"), "pw-123456".toCharArray());
        TransportConfig c = TransportConfig.builder("job", secret).bindHost("127.0.0.1").tls(tls).build();
        secret[0]++;
        assertNotEquals(secret[0], c.secret()[0], "the config keeps its own copy");
        c.secret()[1]++;
        assertEquals(c.secret()[1], c.secret()[1], "callers get copies");
        assertFalse(c.toString().contains("pw-123456"), c.toString());
        assertTrue(c.toString().contains("secret=<hidden>"));

        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(c);
        }
        TransportConfig back;
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            back = (TransportConfig) in.readObject();
        }
        assertEquals(c, back);
        assertArrayEquals(c.secret(), back.secret());
        assertEquals("/keys/job.p12", back.tls().keyStore());
    }

    @Test
    void aWildcardBindAdvertisesADiallableAddress() throws Exception {
        TransportConfig c = TransportConfig.builder("job", Loopback.SECRET).bindHost("0.0.0.0").build();
        try (SocketTensorChannel ch = SocketTensorChannel.open(c, 0)) {
            assertFalse(ch.localAddress().getAddress().isAnyLocalAddress(), ch.localAddress().toString());
            assertEquals(java.net.InetAddress.getLocalHost(), ch.localAddress().getAddress());
            assertTrue(ch.localAddress().getPort() > 0);
        }
    }
}
