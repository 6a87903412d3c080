package io.sparkmp.bench;

import io.sparkmp.transport.FrameType;
import io.sparkmp.transport.SocketTensorChannel;
import io.sparkmp.transport.TensorKey;
import io.sparkmp.transport.TlsSettings;
import io.sparkmp.transport.TransportConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Measures the socket tensor channel over loopback against a raw {@link SocketChannel} copy of the same
 * bytes: throughput of 64 MiB float tensors (receiver recycles, so receive arrays are pooled) and the round
 * trip of 4 KiB frames; plain and TLS. Prints a table; asserts nothing.
 *
 * <p>Run: {@code mvn -B -q -pl spark-mp-examples -am -DskipTests -Ptransport-bench package}
 * (args through {@code -Dbench.args="rounds frames pings"}).
 */
public final class TransportBenchmark {
    private static final int BIG = 64 << 20;
    private static final int SMALL = 4 << 10;

    private TransportBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        int frames = args.length > 1 ? Integer.parseInt(args[1]) : 16;
        int pings = args.length > 2 ? Integer.parseInt(args[2]) : 10_000;
        System.out.printf("TransportBenchmark: %d rounds x %d frames of 64 MiB, %d pings of 4 KiB, loopback,"
                + " OMP_NUM_THREADS=%s, %d cores%n", rounds, frames, pings, System.getenv("OMP_NUM_THREADS"),
                Runtime.getRuntime().availableProcessors());

        Path dir = Files.createTempDirectory("sparkmp-bench");
        TlsSettings tls = selfSigned(dir);
        byte[] secret = TransportConfig.newSecret();
        TransportConfig plain = TransportConfig.builder("bench", secret).bindHost("127.0.0.1").build();
        TransportConfig withTls = TransportConfig.builder("bench", secret).bindHost("127.0.0.1").tls(tls).build();

        int tlsRounds = Math.max(1, rounds / 2);
        int tlsFrames = Math.max(2, frames / 4);
        double rawTlsGbps = rawTlsThroughput(tls, tlsRounds, tlsFrames);
        double rawGbps = rawThroughput(rounds, frames);
        double[] rawRtt = rawPingPong(pings);
        double chanGbps;
        double[] chanRtt;
        try (Pair p = Pair.open(plain)) {
            chanGbps = channelThroughput(p, rounds, frames);
            chanRtt = channelPingPong(p, pings);
        }
        double tlsGbps;
        double[] tlsRtt;
        try (Pair p = Pair.open(withTls)) {
            tlsGbps = channelThroughput(p, tlsRounds, tlsFrames);
            tlsRtt = channelPingPong(p, pings / 2);
        }
        System.out.println();
        System.out.println("| path | 64 MiB throughput (GB/s, median of rounds) | 4 KiB round trip median (us) | p99 (us) |");
        System.out.println("|---|---|---|---|");
        row("raw SocketChannel, reused direct buffer", rawGbps, rawRtt);
        row("SocketTensorChannel, plain TCP", chanGbps, chanRtt);
        System.out.printf("| raw SSLSocket (JDK TLS), 64 KiB writes | %.2f | - | - |%n", rawTlsGbps);
        row("SocketTensorChannel, TLS", tlsGbps, tlsRtt);
        System.out.printf("%nchannel / raw throughput: %.2fx   channel TLS / raw SSLSocket: %.2fx%n",
                chanGbps / rawGbps, tlsGbps / rawTlsGbps);
        System.exit(0);
    }

    private static void row(String what, double gbps, double[] rtt) {
        System.out.printf("| %s | %.2f | %.1f | %.1f |%n", what, gbps, rtt[0], rtt[1]);
    }

    /** Two linked ranks in this JVM. */
    private record Pair(SocketTensorChannel a, SocketTensorChannel b) implements AutoCloseable {
        static Pair open(TransportConfig c) throws Exception {
            SocketTensorChannel a = SocketTensorChannel.open(c, 0);
            SocketTensorChannel b = SocketTensorChannel.open(c, 1);
            CompletableFuture<Void> up = CompletableFuture.runAsync(() -> b.connect(Map.of(0, a.localAddress())));
            a.connect(Map.of(1, b.localAddress()));
            up.get(30, TimeUnit.SECONDS);
            return new Pair(a, b);
        }

        @Override
        public void close() {
            a.close();
            b.close();
        }
    }

    private static double channelThroughput(Pair p, int rounds, int frames) throws Exception {
        INDArray tensor = Nd4j.rand(DataType.FLOAT, BIG / 4);
        long[] step = {0};
        List<Double> gbps = new ArrayList<>();
        for (int r = -1; r < rounds; r++) { // round -1 warms up (fills the receive pool, JIT)
            long first = step[0];
            CompletableFuture<Void> sender = CompletableFuture.runAsync(() -> {
                for (int i = 0; i < frames; i++) {
                    p.a().send(1, key(first + i), tensor);
                }
            });
            long t0 = System.nanoTime();
            for (int i = 0; i < frames; i++) {
                INDArray got = p.b().receive(0, key(first + i));
                p.b().recycle(got);
            }
            long ns = System.nanoTime() - t0;
            sender.get();
            step[0] += frames;
            if (r >= 0) {
                gbps.add((double) BIG * frames / ns);
            }
        }
        return median(gbps);
    }

    private static double[] channelPingPong(Pair p, int pings) throws Exception {
        INDArray small = Nd4j.rand(DataType.FLOAT, SMALL / 4);
        int warm = Math.max(1000, pings / 5);
        INDArray reply = Nd4j.rand(DataType.FLOAT, SMALL / 4);
        CompletableFuture<Void> echo = CompletableFuture.runAsync(() -> {
            for (int i = 0; i < warm + pings; i++) {
                INDArray got = p.b().receive(0, key(i));
                p.b().send(0, back(i), reply); // like a stage: answer with its own output, recycle the input
                p.b().recycle(got);
            }
        });
        long[] rtt = new long[pings];
        for (int i = 0; i < warm + pings; i++) {
            long t0 = System.nanoTime();
            p.a().send(1, key(i), small);
            INDArray back = p.a().receive(1, back(i));
            long ns = System.nanoTime() - t0;
            p.a().recycle(back);
            if (i >= warm) {
                rtt[i - warm] = ns;
            }
        }
        echo.get();
        return percentiles(rtt);
    }

    private static TensorKey key(long step) {
        return new TensorKey(FrameType.ACTIVATION, step, 0, 0, 1);
    }

    private static TensorKey back(long step) {
        return new TensorKey(FrameType.GRADIENT, step, 0, 1, 0);
    }

    /** Raw baseline: the same bytes through a blocking SocketChannel, read into one reused direct buffer. */
    private static double rawThroughput(int rounds, int frames) throws Exception {
        try (ServerSocketChannel server = ServerSocketChannel.open()) {
            server.bind(new InetSocketAddress("127.0.0.1", 0));
            ByteBuffer out = ByteBuffer.allocateDirect(BIG);
            ByteBuffer in = ByteBuffer.allocateDirect(BIG);
            int total = (rounds + 1) * frames;
            CompletableFuture<Void> sender = CompletableFuture.runAsync(() -> {
                try (SocketChannel s = SocketChannel.open(server.getLocalAddress())) {
                    for (int i = 0; i < total; i++) {
                        out.clear();
                        while (out.hasRemaining()) {
                            s.write(out);
                        }
                    }
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
            List<Double> gbps = new ArrayList<>();
            try (SocketChannel s = server.accept()) {
                for (int r = -1; r < rounds; r++) {
                    long t0 = System.nanoTime();
                    for (int i = 0; i < frames; i++) {
                        in.clear();
                        while (in.hasRemaining()) {
                            if (s.read(in) < 0) {
                                throw new IOException("raw sender ended early");
                            }
                        }
                    }
                    long ns = System.nanoTime() - t0;
                    if (r >= 0) {
                        gbps.add((double) BIG * frames / ns);
                    }
                }
            }
            sender.get();
            return median(gbps);
        }
    }

    /** TLS baseline: the same bytes through a plain JDK SSLSocket pair with the same key store. */
    private static double rawTlsThroughput(TlsSettings tls, int rounds, int frames) throws Exception {
        java.security.KeyStore ks = java.security.KeyStore.getInstance(tls.keyStoreType());
        try (java.io.InputStream in = Files.newInputStream(Path.of(tls.keyStore()))) {
            ks.load(in, tls.keyStorePassword());
        }
        javax.net.ssl.KeyManagerFactory kmf = javax.net.ssl.KeyManagerFactory.getInstance(
                javax.net.ssl.KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(ks, tls.keyStorePassword());
        javax.net.ssl.TrustManagerFactory tmf = javax.net.ssl.TrustManagerFactory.getInstance(
                javax.net.ssl.TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(ks);
        javax.net.ssl.SSLContext ctx = javax.net.ssl.SSLContext.getInstance("TLS");
        ctx.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
        try (java.net.ServerSocket server = ctx.getServerSocketFactory().createServerSocket(0, 1,
                java.net.InetAddress.getByName("127.0.0.1"))) {
            int total = (rounds + 1) * frames;
            CompletableFuture<Void> sender = CompletableFuture.runAsync(() -> {
                try (java.net.Socket s = ctx.getSocketFactory().createSocket("127.0.0.1", server.getLocalPort())) {
                    java.io.OutputStream out = s.getOutputStream();
                    byte[] chunk = new byte[64 << 10];
                    for (long sent = 0; sent < (long) total * BIG; sent += chunk.length) {
                        out.write(chunk);
                    }
                    out.flush();
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
            List<Double> gbps = new ArrayList<>();
            try (java.net.Socket s = server.accept()) {
                java.io.InputStream in = s.getInputStream();
                byte[] chunk = new byte[64 << 10];
                for (int r = -1; r < rounds; r++) {
                    long t0 = System.nanoTime();
                    long want = (long) frames * BIG;
                    while (want > 0) {
                        int n = in.read(chunk, 0, (int) Math.min(chunk.length, want));
                        if (n < 0) {
                            throw new IOException("TLS sender ended early");
                        }
                        want -= n;
                    }
                    if (r >= 0) {
                        gbps.add((double) BIG * frames / (System.nanoTime() - t0));
                    }
                }
            }
            sender.get();
            return median(gbps);
        }
    }

    private static double[] rawPingPong(int pings) throws Exception {
        try (ServerSocketChannel server = ServerSocketChannel.open()) {
            server.bind(new InetSocketAddress("127.0.0.1", 0));
            int warm = Math.max(1000, pings / 5);
            CompletableFuture<Void> echo = CompletableFuture.runAsync(() -> {
                try (SocketChannel s = server.accept()) {
                    s.setOption(java.net.StandardSocketOptions.TCP_NODELAY, true);
                    ByteBuffer b = ByteBuffer.allocateDirect(SMALL);
                    for (int i = 0; i < warm + pings; i++) {
                        exchange(s, b, false);
                    }
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
            long[] rtt = new long[pings];
            try (SocketChannel s = SocketChannel.open(server.getLocalAddress())) {
                s.setOption(java.net.StandardSocketOptions.TCP_NODELAY, true);
                ByteBuffer b = ByteBuffer.allocateDirect(SMALL);
                for (int i = 0; i < warm + pings; i++) {
                    long t0 = System.nanoTime();
                    exchange(s, b, true);
                    if (i >= warm) {
                        rtt[i - warm] = System.nanoTime() - t0;
                    }
                }
            }
            echo.get();
            return percentiles(rtt);
        }
    }

    private static void exchange(SocketChannel s, ByteBuffer b, boolean writeFirst) throws IOException {
        for (int phase = 0; phase < 2; phase++) {
            b.clear();
            if ((phase == 0) == writeFirst) {
                while (b.hasRemaining()) {
                    s.write(b);
                }
            } else {
                while (b.hasRemaining()) {
                    if (s.read(b) < 0) {
                        throw new IOException("peer ended");
                    }
                }
            }
        }
    }

    private static double median(List<Double> xs) {
        double[] a = xs.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return a[a.length / 2];
    }

    /** Median and 99th percentile in microseconds. */
    private static double[] percentiles(long[] ns) {
        long[] s = ns.clone();
        Arrays.sort(s);
        return new double[] {s[s.length / 2] / 1e3, s[(int) Math.min(s.length - 1, s.length * 0.99)] / 1e3};
    }

    /** A throw-away self-signed key store made with the JDK's keytool. */
    private static TlsSettings selfSigned(Path dir) throws Exception {
        char[] pw = "bench-only".toCharArray();
        Path ks = dir.resolve("bench.p12");
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "keytool").toString(),
                "-genkeypair", "-alias", "bench", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=bench",
                "-validity", "1", "-storetype", "PKCS12", "-keystore", ks.toString(), "-storepass", new String(pw),
                "-keypass", new String(pw)).inheritIO().start();
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IllegalStateException("keytool could not make a key store in " + dir);
        }
        ks.toFile().deleteOnExit();
        dir.toFile().deleteOnExit();
        return TlsSettings.sharedPkcs12(ks, pw);
    }
}
