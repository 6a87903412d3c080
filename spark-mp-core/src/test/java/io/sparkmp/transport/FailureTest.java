package io.sparkmp.transport;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A dead, silent, slow or departed peer makes the waiting call fail in bounded time, naming the peer. */
class FailureTest {
    private static final InetSocketAddress ANY = new InetSocketAddress("127.0.0.1", 9);

    private static TransportConfig config(Duration receive, Duration read, Duration idle) {
        return Loopback.builder("failure").receiveTimeout(receive).readTimeout(read).idleTimeout(idle)
                .connectTimeout(Duration.ofSeconds(5)).closeTimeout(Duration.ofSeconds(1)).build();
    }

    /** Rank 1 channel linked to a hand-driven rank 0. */
    private record Pair(SocketTensorChannel channel, FakePeer peer) implements AutoCloseable {
        static Pair open(TransportConfig c) throws Exception {
            SocketTensorChannel ch = SocketTensorChannel.open(c, 1);
            try {
                CompletableFuture<Void> up = CompletableFuture.runAsync(() -> ch.connect(Map.of(0, ANY)));
                FakePeer p = FakePeer.dial(c, 0, 1, ch.localAddress());
                up.get(5, TimeUnit.SECONDS);
                return new Pair(ch, p);
            } catch (Exception e) {
                ch.close();
                throw e;
            }
        }

        @Override
        public void close() throws Exception {
            peer.close();
            channel.close();
        }
    }

    /** Runs {@code receive} and returns its error and how long it took. */
    private static TransportException failingReceive(SocketTensorChannel ch, TensorKey key, long[] millis) {
        long t0 = System.nanoTime();
        TransportException e = assertThrows(TransportException.class, () -> ch.receive(0, key));
        millis[0] = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        return e;
    }

    private static void assertNamesPeerAndKey(TransportException e, FakePeer p, TensorKey key) {
        String m = e.getMessage();
        assertTrue(m.contains("rank 0"), m);
        assertTrue(m.contains(String.valueOf(p.wire.localPort())), "names the peer's address: " + m);
        assertTrue(m.contains("step " + key.step() + ", micro-batch " + key.microBatch()), m);
    }

    @Test
    void peerKilledMidPayloadFailsTheReceiveAtOnce() throws Exception {
        TensorKey key = Loopback.key(5, 2);
        try (Pair p = Pair.open(config(Duration.ofSeconds(20), Duration.ofSeconds(20), Duration.ofSeconds(20)))) {
            ByteBuffer frame = p.peer().frame(key, Nd4j.rand(DataType.FLOAT, 256, 1024));
            frame.limit(frame.limit() - 512 * 1024); // header and half the payload
            CompletableFuture<Void> kill = CompletableFuture.runAsync(() -> {
                try {
                    Thread.sleep(200);
                    p.peer().write(frame);
                    p.peer().close();
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            long[] ms = {0};
            TransportException e = failingReceive(p.channel(), key, ms);
            kill.get();
            assertNamesPeerAndKey(e, p.peer(), key);
            assertTrue(e.getMessage().contains("stream ended inside a payload"), e.getMessage());
            assertTrue(ms[0] < 5000, "failed after " + ms[0] + " ms, not after the 20 s timeouts");
        }
    }

    @Test
    void peerSilentMidPayloadFailsWithinTheReadTimeout() throws Exception {
        TensorKey key = Loopback.key(6, 1);
        try (Pair p = Pair.open(config(Duration.ofSeconds(20), Duration.ofMillis(500), Duration.ofSeconds(20)))) {
            ByteBuffer frame = p.peer().frame(key, Nd4j.rand(DataType.FLOAT, 1024));
            frame.limit(frame.limit() - 2048);
            // The read timeout runs from the last byte the reader saw, i.e. from this write, not from the
            // receive call: time from here so a slow scheduler cannot make the failure look early.
            long t0 = System.nanoTime();
            p.peer().write(frame); // and then nothing: the process hangs
            long[] ms = {0};
            TransportException e = failingReceive(p.channel(), key, ms);
            long sinceWrite = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            assertNamesPeerAndKey(e, p.peer(), key);
            assertTrue(e.getMessage().contains("silent for 500 ms inside a payload"), e.getMessage());
            assertTrue(sinceWrite >= 450 && ms[0] < 5000, "failed " + sinceWrite + " ms after the write, "
                    + ms[0] + " ms after receive started");
        }
    }

    @Test
    void peerSilentBetweenFramesFailsWithinTheIdleTimeout() throws Exception {
        TensorKey key = Loopback.key(7, 0);
        try (Pair p = Pair.open(config(Duration.ofSeconds(20), Duration.ofSeconds(20), Duration.ofMillis(800)))) {
            long[] ms = {0};
            TransportException e = failingReceive(p.channel(), key, ms); // the fake peer sends no heartbeats
            assertNamesPeerAndKey(e, p.peer(), key);
            assertTrue(e.getMessage().contains("between frames (idleTimeout)"), e.getMessage());
            assertTrue(ms[0] < 5000, "failed after " + ms[0] + " ms");
        }
    }

    @Test
    void liveButQuietPeerHitsTheReceiveTimeout() throws Exception {
        TransportConfig c = config(Duration.ofMillis(300), Duration.ofSeconds(5), Duration.ofSeconds(2));
        List<SocketTensorChannel> chans = Loopback.mesh(2, c);
        try {
            TensorKey wanted = Loopback.key(9, 3);
            chans.get(0).send(1, Loopback.key(9, 2), Nd4j.ones(3)); // another key arrives and is held
            long t0 = System.nanoTime();
            TransportException e = assertThrows(TransportException.class, () -> chans.get(1).receive(0, wanted));
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            String m = e.getMessage();
            assertTrue(m.startsWith("timed out after 300 ms waiting for ACTIVATION[step 9, micro-batch 3"), m);
            assertTrue(m.contains("rank 0 (") && m.contains("micro-batch 2"), "names the peer and held keys: " + m);
            assertTrue(ms >= 250 && ms < 3000, "took " + ms + " ms");
            // heartbeats keep an idle but live link up beyond the idle timeout
            Thread.sleep(2500);
            TensorKey later = Loopback.key(10, 0);
            chans.get(0).send(1, later, Nd4j.ones(2));
            assertArrayEquals(new float[] {1, 1}, chans.get(1).receive(0, later).toFloatVector(), 0f);
        } finally {
            Loopback.closeAll(chans);
        }
    }

    @Test
    void aFailedReaderWakesEveryWaitingReceive() throws Exception {
        try (Pair p = Pair.open(config(Duration.ofSeconds(30), Duration.ofSeconds(30), Duration.ofSeconds(30)))) {
            List<CompletableFuture<INDArray>> waiting = new ArrayList<>();
            for (int mb = 0; mb < 4; mb++) {
                TensorKey k = Loopback.key(1, mb);
                waiting.add(CompletableFuture.supplyAsync(() -> p.channel().receive(0, k)));
            }
            Thread.sleep(200);
            long t0 = System.nanoTime();
            p.peer().close(); // the peer process dies
            for (int mb = 0; mb < 4; mb++) {
                ExecutionException ex = assertThrows(ExecutionException.class,
                        () -> waiting.get(0).get(5, TimeUnit.SECONDS));
                assertInstanceOf(TransportException.class, ex.getCause());
                waiting.remove(0);
            }
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            assertTrue(ms < 2000, "all woke after " + ms + " ms, the timeout is 30 s");
        }
    }

    @Test
    void peerThatClosesIsReportedAsClosedAndHeldFramesStayReadable() throws Exception {
        List<SocketTensorChannel> chans = Loopback.mesh(2, Loopback.config("failure"));
        try {
            TensorKey k = Loopback.key(2, 0);
            chans.get(0).send(1, k, Nd4j.createFromArray(4.0, 5.0));
            chans.get(0).close();
            chans.get(0).close(); // idempotent
            assertArrayEquals(new double[] {4, 5}, chans.get(1).receive(0, k).toDoubleVector(), 0.0);
            long t0 = System.nanoTime();
            TransportException e = assertThrows(TransportException.class,
                    () -> chans.get(1).receive(0, Loopback.key(2, 1)));
            assertTrue(e.getMessage().contains("the peer closed its channel"), e.getMessage());
            assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(2));
            TransportException s = assertThrows(TransportException.class,
                    () -> chans.get(0).send(1, k, Nd4j.ones(1)));
            assertTrue(s.getMessage().contains("closed"), s.getMessage());
        } finally {
            Loopback.closeAll(chans);
        }
    }

    @Test
    void aReceiverThatDoesNotReadMakesSendBlockThenFail() throws Exception {
        TransportConfig c = Loopback.builder("failure").maxInFlightBytes(1 << 20).sendTimeout(Duration.ofMillis(500))
                .idleTimeout(Duration.ofSeconds(30)).closeTimeout(Duration.ofMillis(200)).build();
        // rank 0 is a real channel; rank 1 authenticates and then never reads a byte
        SocketTensorChannel sender = SocketTensorChannel.open(c, 0);
        try (java.nio.channels.ServerSocketChannel server = java.nio.channels.ServerSocketChannel.open()) {
            server.bind(new InetSocketAddress("127.0.0.1", 0));
            CompletableFuture<NioWire> acceptor = CompletableFuture.supplyAsync(() -> {
                try {
                    NioWire w = new NioWire(server.accept());
                    Handshake.accept(w, c, 1, (d, t) -> null, 5000);
                    return w;
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            sender.connect(Map.of(1, (InetSocketAddress) server.getLocalAddress()));
            try (NioWire stalled = acceptor.get(5, TimeUnit.SECONDS)) {
                INDArray frame = Nd4j.create(DataType.FLOAT, 64, 1024); // 256 KiB
                int accepted = 0;
                long t0 = 0;
                TransportException e = null;
                while (e == null && accepted < 1000) {
                    t0 = System.nanoTime();
                    try {
                        sender.send(1, Loopback.key(accepted, 0), frame);
                        accepted++;
                    } catch (TransportException ex) {
                        e = ex;
                    }
                }
                long blockedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
                assertTrue(e != null, "send never blocked");
                assertTrue(e.getMessage().contains("timed out after 500 ms")
                        && e.getMessage().contains("maxInFlightBytes (1048576)"), e.getMessage());
                assertTrue(blockedMs >= 450, "blocked " + blockedMs + " ms before failing");
                // at most the queue budget plus what the kernel's socket buffers took
                assertTrue(accepted < 200, accepted + " frames of 256 KiB were accepted");
            }
        } finally {
            sender.close();
        }
    }

    @Test
    void connectNamesThePeersThatNeverCame() throws Exception {
        TransportConfig c = Loopback.builder("failure").connectTimeout(Duration.ofMillis(600)).connectRetries(3)
                .build();
        InetSocketAddress nobody;
        try (java.nio.channels.ServerSocketChannel s = java.nio.channels.ServerSocketChannel.open()) {
            s.bind(new InetSocketAddress("127.0.0.1", 0));
            nobody = (InetSocketAddress) s.getLocalAddress(); // closed again: nothing listens there
        }
        try (SocketTensorChannel ch = SocketTensorChannel.open(c, 1)) {
            long t0 = System.nanoTime();
            TransportException e = assertThrows(TransportException.class,
                    () -> ch.connect(Map.of(0, new InetSocketAddress("127.0.0.1", 9), 2, nobody)));
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            String m = e.getMessage();
            assertTrue(m.contains("cannot connect to rank 2 (" + nobody + ") after 3 attempt(s)"), m);
            assertTrue(ms < 3000, "took " + ms + " ms");
        }
        try (SocketTensorChannel ch = SocketTensorChannel.open(c, 1)) {
            TransportException e = assertThrows(TransportException.class,
                    () -> ch.connect(Map.of(0, new InetSocketAddress("127.0.0.1", 9))));
            assertTrue(e.getMessage().contains("within connectTimeout (600 ms) from [rank 0 (/127.0.0.1:9)]"),
                    e.getMessage());
        }
    }
}
