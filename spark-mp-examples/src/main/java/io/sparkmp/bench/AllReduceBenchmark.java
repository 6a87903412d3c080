package io.sparkmp.bench;

import io.sparkmp.transport.FrameType;
import io.sparkmp.transport.RingAllReduce;
import io.sparkmp.transport.SocketTensorChannel;
import io.sparkmp.transport.TensorKey;
import io.sparkmp.transport.TransportConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Measures {@link RingAllReduce} over loopback {@link SocketTensorChannel}s in one JVM against the links it runs
 * on, in the same run: (a) the raw link, one rank streaming 64 MiB float tensors to another (bytes/s);
 * (b) the shared link, every member of a ring of R sending 64 MiB to its right neighbour at once (the per-link
 * rate when R links share this host's cores); (c) the ring all-reduce of float vectors of 1 to 64 MiB for
 * R = 2, 3, 4: median time, algorithm bandwidth (bytes / time), bus bandwidth (2(R − 1)/R × bytes / time, what
 * each member moves per second) and bus bandwidth over (a) and over (b). Prints a table; times are not
 * asserted, but a member whose result differs from member 0's stops the run.
 *
 * <p>Run: {@code mvn -B -q -pl spark-mp-examples -am -DskipTests -Pallreduce-bench package}
 * (args through {@code -Dbench.args="repeats maxMiB pieceKiB"}).
 */
public final class AllReduceBenchmark {
    private static final int MAX_RANKS = 4;
    private static final long MIB = 1L << 20;
    private static final int LINK_FRAMES = 8;

    private AllReduceBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        int repeats = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        int maxMiB = args.length > 1 ? Integer.parseInt(args[1]) : 64;
        long pieceBytes = args.length > 2 ? Long.parseLong(args[2]) * 1024 : RingAllReduce.DEFAULT_PIECE_BYTES;
        int cores = Runtime.getRuntime().availableProcessors();
        System.out.printf("AllReduceBenchmark: ring all-reduce of FLOAT vectors over loopback sockets, %d repeats"
                        + " (median), pieces of %d KiB, OMP_NUM_THREADS=%s, %d cores, load average %s%n", repeats,
                pieceBytes / 1024, System.getenv("OMP_NUM_THREADS"), cores, loadAverage());
        System.out.printf("All ranks are threads of this one JVM: the R ranks (and their links' reader and writer"
                + " threads) share these %d cores, so on a small host the ring's links do not run at once as on R"
                + " machines; column 'bus / shared link' compares with R links running at once here.%n", cores);

        TransportConfig config = TransportConfig.builder("allreduce-bench", TransportConfig.newSecret())
                .bindHost("127.0.0.1").build();
        List<SocketTensorChannel> chans = mesh(config);
        ExecutorService pool = Executors.newFixedThreadPool(MAX_RANKS);
        try {
            double raw = rawLink(chans, Math.max(3, repeats));
            System.out.printf("%n(a) raw link, rank 0 -> rank 1, %d frames of 64 MiB: %.2f GB/s%n", LINK_FRAMES,
                    raw / 1e9);
            double[] shared = new double[MAX_RANKS + 1];
            for (int r = 2; r <= MAX_RANKS; r++) {
                shared[r] = sharedLink(chans, pool, r, Math.max(3, repeats));
                System.out.printf("(b) shared link, R = %d links at once, %d frames of 64 MiB each: %.2f GB/s per"
                        + " link%n", r, LINK_FRAMES, shared[r] / 1e9);
            }
            System.out.println();
            System.out.println("| R | MiB | median ms | algorithm GB/s | bus GB/s | bus / raw link | bus / shared link |");
            System.out.println("|---|---|---|---|---|---|---|");
            for (int r = 2; r <= MAX_RANKS; r++) {
                for (int mib = 1; mib <= maxMiB; mib *= 4) {
                    double s = allReduce(chans, pool, r, mib * MIB, pieceBytes, repeats);
                    double alg = mib * MIB / s;
                    double bus = alg * 2.0 * (r - 1) / r;
                    System.out.printf("| %d | %d | %.1f | %.2f | %.2f | %.2f | %.2f |%n", r, mib, s * 1e3, alg / 1e9,
                            bus / 1e9, bus / raw, bus / shared[r]);
                }
            }
            System.out.printf("%nload average at the end: %s%n", loadAverage());
        } finally {
            pool.shutdownNow();
            for (SocketTensorChannel c : chans) {
                c.close();
            }
        }
        System.exit(0);
    }

    /** Bytes per second of rank 0 streaming {@link #LINK_FRAMES} 64 MiB frames to rank 1; median of rounds. */
    private static double rawLink(List<SocketTensorChannel> chans, int rounds) throws Exception {
        INDArray t = Nd4j.rand(DataType.FLOAT, 64 * MIB / 4);
        List<Double> rates = new ArrayList<>();
        ExecutorService sender = Executors.newSingleThreadExecutor();
        try {
            for (int round = -1; round < rounds; round++) { // round -1 warms up (receive pool, JIT)
                long first = (round + 1L) * LINK_FRAMES;
                Future<?> sent = sender.submit(() -> {
                    for (int i = 0; i < LINK_FRAMES; i++) {
                        chans.get(0).send(1, linkKey(first + i, 0), t);
                    }
                });
                long t0 = System.nanoTime();
                for (int i = 0; i < LINK_FRAMES; i++) {
                    chans.get(1).recycle(chans.get(1).receive(0, linkKey(first + i, 0)));
                }
                long ns = System.nanoTime() - t0;
                sent.get();
                if (round >= 0) {
                    rates.add(64.0 * MIB * LINK_FRAMES / (ns / 1e9));
                }
            }
        } finally {
            sender.shutdownNow();
        }
        return median(rates);
    }

    /** Per-link bytes per second when each of ranks 0..r-1 streams 64 MiB frames to the next one, all at once. */
    private static double sharedLink(List<SocketTensorChannel> chans, ExecutorService pool, int r, int rounds)
            throws Exception {
        INDArray[] t = new INDArray[r];
        for (int q = 0; q < r; q++) {
            t[q] = Nd4j.rand(DataType.FLOAT, 64 * MIB / 4);
        }
        ExecutorService senders = Executors.newFixedThreadPool(r);
        List<Double> rates = new ArrayList<>();
        try {
            for (int round = -1; round < rounds; round++) {
                long first = 1_000_000L * r + (round + 1L) * LINK_FRAMES;
                double ns = together(pool, r, me -> {
                    int right = (me + 1) % r;
                    int left = (me - 1 + r) % r;
                    Future<?> sent = senders.submit(() -> {
                        for (int i = 0; i < LINK_FRAMES; i++) {
                            chans.get(me).send(right, linkKey(first + i, me), t[me]);
                        }
                    });
                    for (int i = 0; i < LINK_FRAMES; i++) {
                        chans.get(me).recycle(chans.get(me).receive(left, linkKey(first + i, left)));
                    }
                    sent.get();
                });
                if (round >= 0) {
                    rates.add(64.0 * MIB * LINK_FRAMES / (ns / 1e9));
                }
            }
        } finally {
            senders.shutdownNow();
        }
        return median(rates);
    }

    /** Median seconds of one all-reduce of {@code bytes} of FLOAT on ranks 0..r-1, from a common start to the last. */
    private static double allReduce(List<SocketTensorChannel> chans, ExecutorService pool, int r, long bytes,
                                    long pieceBytes, int repeats) throws Exception {
        int[] ring = new int[r];
        INDArray[] v = new INDArray[r];
        RingAllReduce[] red = new RingAllReduce[r];
        for (int q = 0; q < r; q++) {
            ring[q] = q;
            v[q] = Nd4j.rand(DataType.FLOAT, bytes / 4);
        }
        for (int q = 0; q < r; q++) {
            red[q] = new RingAllReduce(chans.get(q), ring, 120_000, pieceBytes);
        }
        List<Double> seconds = new ArrayList<>();
        for (int rep = -1; rep < repeats; rep++) { // rep -1 warms up
            long step = rep + 1L;
            double ns = together(pool, r, me -> red[me].sumInPlace(v[me], step, (int) (bytes / MIB) * 10 + r));
            if (rep >= 0) {
                seconds.add(ns / 1e9);
            }
        }
        for (int q = 1; q < r; q++) { // the fixed order promises every member the same bits: check the last run
            if (v[q].sub(v[0]).amaxNumber().doubleValue() != 0) {
                throw new IllegalStateException("R " + r + ", " + bytes / MIB + " MiB: member " + q
                        + " ended with other values than member 0");
            }
        }
        return median(seconds);
    }

    /** What member {@code me} of a timed round does. */
    private interface Member {
        void run(int me) throws Exception;
    }

    /** Runs {@code body} for members 0..r-1 at once (common start); nanoseconds from the first start to the last end. */
    private static double together(ExecutorService pool, int r, Member body) throws Exception {
        CyclicBarrier start = new CyclicBarrier(r);
        List<Callable<long[]>> members = new ArrayList<>();
        for (int q = 0; q < r; q++) {
            int me = q;
            members.add(() -> {
                start.await();
                long t0 = System.nanoTime();
                body.run(me);
                return new long[] {t0, System.nanoTime()};
            });
        }
        long first = Long.MAX_VALUE;
        long last = Long.MIN_VALUE;
        for (Future<long[]> f : pool.invokeAll(members)) {
            long[] se = f.get(10, TimeUnit.MINUTES);
            first = Math.min(first, se[0]);
            last = Math.max(last, se[1]);
        }
        return last - first;
    }

    private static List<SocketTensorChannel> mesh(TransportConfig config) throws Exception {
        List<SocketTensorChannel> chans = new ArrayList<>();
        for (int q = 0; q < MAX_RANKS; q++) {
            chans.add(SocketTensorChannel.open(config, q));
        }
        ExecutorService linkers = Executors.newFixedThreadPool(MAX_RANKS);
        try {
            List<Future<?>> up = new ArrayList<>();
            for (int q = 0; q < MAX_RANKS; q++) {
                Map<Integer, InetSocketAddress> peers = new HashMap<>();
                for (int p = 0; p < MAX_RANKS; p++) {
                    if (p != q) {
                        peers.put(p, chans.get(p).localAddress());
                    }
                }
                SocketTensorChannel c = chans.get(q);
                up.add(linkers.submit(() -> c.connect(peers)));
            }
            for (Future<?> f : up) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            linkers.shutdownNow();
        }
        return chans;
    }

    private static TensorKey linkKey(long frame, int from) {
        return new TensorKey(FrameType.ACTIVATION, frame, 0, from, 0);
    }

    private static double median(List<Double> xs) {
        double[] s = xs.stream().mapToDouble(Double::doubleValue).toArray();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    private static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (Exception e) {
            return "unknown";
        }
    }
}
