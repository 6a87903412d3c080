package io.sparkmp.transport;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** TLS links carry tensors intact; a peer without TLS or without the shared certificate is refused. */
class TlsTest {
    static final char[] PASSWORD = "changeit-test".toCharArray();

    @TempDir
    static Path dir;
    static TlsSettings tls;

    /** A fresh self-signed PKCS12 key store made by the JDK's keytool (no key material is committed). */
    static Path selfSigned(Path dir, String name) throws Exception {
        Path ks = dir.resolve(name + ".p12");
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "keytool").toString(),
                "-genkeypair", "-alias", "sparkmp", "-keyalg", "EC", "-groupname", "secp256r1",
                "-dname", "CN=sparkmp-test", "-validity", "2", "-storetype", "PKCS12", "-keystore", ks.toString(),
                "-storepass", new String(PASSWORD), "-keypass", new String(PASSWORD))
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, "keytool failed: " + out);
        assertTrue(Files.size(ks) > 0);
        return ks;
    }

    @BeforeAll
    static void keys() throws Exception {
        tls = TlsSettings.sharedPkcs12(selfSigned(dir, "job"), PASSWORD);
    }

    @Test
    void tensorsRoundTripOverTls() throws Exception {
        TransportConfig c = Loopback.builder("tls").tls(tls).connectTimeout(Duration.ofSeconds(10)).build();
        List<SocketTensorChannel> chans = Loopback.mesh(3, c);
        try {
            INDArray big = Nd4j.rand(DataType.FLOAT, 512, 1024); // 2 MiB: many TLS records
            INDArray small = Nd4j.createFromArray(new double[][] {{1, 2}, {3, 4}}).dup('f');
            TensorKey k1 = Loopback.key(1, 0);
            TensorKey k2 = new TensorKey(FrameType.GRADIENT, 1, 0, 2, 1);
            chans.get(0).send(2, k1, big);
            chans.get(2).send(1, k2, small);
            INDArray gotBig = chans.get(2).receive(0, k1);
            INDArray gotSmall = chans.get(1).receive(2, k2);
            assertEquals(big, gotBig);
            assertEquals(DataType.FLOAT, gotBig.dataType());
            assertEquals(small, gotSmall);
            assertEquals('f', gotSmall.ordering());
        } finally {
            Loopback.closeAll(chans);
        }
    }

    @Test
    void plainDialerAndForeignCertificateAreRefused() throws Exception {
        TransportConfig tlsConfig = Loopback.builder("tls").tls(tls).build();
        TransportConfig plain = Loopback.builder("tls").connectTimeout(Duration.ofSeconds(2)).connectRetries(1).build();
        TransportConfig foreign = Loopback.builder("tls").connectTimeout(Duration.ofSeconds(2)).connectRetries(1)
                .tls(TlsSettings.sharedPkcs12(selfSigned(dir, "foreign"), PASSWORD)).build();
        try (SocketTensorChannel server = SocketTensorChannel.open(tlsConfig, 1)) {
            CompletableFuture<Void> up = CompletableFuture.runAsync(
                    () -> server.connect(Map.of(0, new InetSocketAddress("127.0.0.1", 9))));
            for (TransportConfig bad : List.of(plain, foreign)) {
                try (SocketTensorChannel intruder = SocketTensorChannel.open(bad, 0)) {
                    TransportException e = assertThrows(TransportException.class,
                            () -> intruder.connect(Map.of(1, server.localAddress())));
                    assertTrue(e.getMessage().contains("cannot connect to rank 1"), e.getMessage());
                }
            }
            try (SocketTensorChannel good = SocketTensorChannel.open(tlsConfig, 0)) {
                good.connect(Map.of(1, server.localAddress()));
                up.get(10, TimeUnit.SECONDS);
                TensorKey k = Loopback.key(4, 4);
                good.send(1, k, Nd4j.createFromArray(7, 8, 9));
                assertEquals(Nd4j.createFromArray(7, 8, 9), server.receive(0, k));
            }
        }
    }
}
