package io.sparkmp.transport;

import java.net.InetSocketAddress;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Measures what a message costs on this host's links: two {@link SocketTensorChannel}s on the loopback
 * interface in this JVM, the same transport, framing and authentication training uses. For a small and a large
 * float tensor it times, per message, the sender's {@code send} call and the time from its return until
 * {@code receive} hands the tensor over (with the receive buffer recycled, as training does); the medians at the
 * two sizes give a fixed part and a part per byte of each.
 */
@io.sparkmp.Internal
public final class LinkProbe {

    /** Elements of the small and the large probe tensor (FLOAT): 256 bytes and 4 MiB. */
    static final int SMALL = 64;
    static final int LARGE = 1 << 20;

    /**
     * The measured costs, in seconds (all {@code >= 0}).
     *
     * @param sendSeconds sender's time per message, fixed part
     * @param sendSecondsPerByte sender's time per byte
     * @param latencySeconds from the send's return until the receive returns, fixed part
     * @param latencySecondsPerByte the same, per byte
     */
    public record Result(double sendSeconds, double sendSecondsPerByte, double latencySeconds,
                         double latencySecondsPerByte) {
    }

    private LinkProbe() {
    }

    /**
     * Measures {@code repeats} messages per size after {@code warmup} untimed ones.
     *
     * @throws IllegalArgumentException if {@code repeats < 1} or {@code warmup < 0}
     * @throws TransportException if the loopback channels cannot link within 30 s
     */
    public static Result measure(int warmup, int repeats) {
        if (repeats < 1 || warmup < 0) {
            throw new IllegalArgumentException("need repeats >= 1 and warmup >= 0, found " + repeats + " and " + warmup);
        }
        TransportConfig config = TransportConfig.builder("spark-mp link probe", TransportConfig.newSecret())
                .bindHost("127.0.0.1").build();
        try (SocketTensorChannel a = SocketTensorChannel.open(config, 0);
             SocketTensorChannel b = SocketTensorChannel.open(config, 1)) {
            InetSocketAddress aAt = a.localAddress();
            InetSocketAddress bAt = b.localAddress();
            CompletableFuture<Void> dial = CompletableFuture.runAsync(() -> b.connect(Map.of(0, aAt)));
            a.connect(Map.of(1, bAt));
            dial.get(30, TimeUnit.SECONDS);
            double[] small = time(a, b, SMALL, warmup, repeats, 0);
            double[] large = time(a, b, LARGE, warmup, repeats, 1);
            double bytes = 4.0 * (LARGE - SMALL);
            double sendPerByte = Math.max(0, (large[0] - small[0]) / bytes);
            double latencyPerByte = Math.max(0, (large[1] - small[1]) / bytes);
            return new Result(Math.max(0, small[0] - 4.0 * SMALL * sendPerByte), sendPerByte,
                    Math.max(0, small[1] - 4.0 * SMALL * latencyPerByte), latencyPerByte);
        } catch (TransportException e) {
            throw e;
        } catch (Exception e) {
            throw new TransportException("link probe failed: " + e, e);
        }
    }

    /** Medians of [send call, send return to receive return] over {@code repeats} messages of {@code n} floats. */
    private static double[] time(SocketTensorChannel a, SocketTensorChannel b, int n, int warmup, int repeats, int tag) {
        INDArray x = Nd4j.rand(DataType.FLOAT, 1, n);
        double[] send = new double[repeats];
        double[] latency = new double[repeats];
        for (int r = -warmup; r < repeats; r++) {
            TensorKey key = new TensorKey(FrameType.ACTIVATION, 2L * (r + warmup) + tag, 0, 0, 1);
            long t0 = System.nanoTime();
            a.send(1, key, x);
            long t1 = System.nanoTime();
            INDArray y = b.receive(0, key);
            long t2 = System.nanoTime();
            b.recycle(y);
            if (r >= 0) {
                send[r] = (t1 - t0) / 1e9;
                latency[r] = (t2 - t1) / 1e9;
            }
        }
        return new double[] {median(send), median(latency)};
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }
}
