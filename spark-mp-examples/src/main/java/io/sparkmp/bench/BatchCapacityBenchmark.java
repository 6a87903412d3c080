package io.sparkmp.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalInt;

/**
 * How large a mini-batch can each contender train under the same memory cap per JVM? DL4J's own {@code fit} in
 * one JVM, spark-mp with P = 1 (micro-batches only: gradient accumulation) and P = 2 on {@code local-cluster}
 * (one executor JVM per stage), every JVM capped by {@code -Dorg.bytedeco.javacpp.maxphysicalbytes=<cap>} and
 * {@code -Xmx<heap>}, one ND4J thread. Model: {@link BatchModel}, a small convolutional network whose
 * activations dominate its parameters, on generated images (made on the executors for spark-mp). The planner
 * sizes M from the batch and the budget ({@code spark.mp.microBatches} unset) unless {@code --micro-batches N}.
 *
 * <p>Each probe (contender, batch) is a fresh JVM ({@link CapacityBenchmark#probe}); it succeeds when it took at
 * least {@code --steps} (&ge; 2) optimizer steps and wrote its model. DL4J's largest batch is searched by
 * doubling then bisection to {@code --step} ({@link WidthSearch}); the spark-mp contenders start at
 * {@code --spark-start} times DL4J's largest and double while they train, for at most {@code --spark-probes}
 * probes (a spark-mp run's batch is bounded by time, not memory: the table says "&ge;" when no probe failed).
 * Prints every probe, then: largest batch, ratio to DL4J, the M and micro-batch size the planner chose, peak
 * resident memory, and per stage the planner's memory estimate next to the measured peak.
 *
 * <p>Run: {@code OMP_NUM_THREADS=1 mvn -B -q -pl spark-mp-core,spark-mp-examples -DskipTests -Pcapacity-bench
 * -Dbench.main=io.sparkmp.bench.BatchCapacityBenchmark package}; options through {@code -Dbench.args="..."}:
 * {@code --contenders dl4j,p1,p2}, {@code --cap 600m}, {@code --executor-heap-mb 512}, {@code --side 24},
 * {@code --steps 2}, {@code --start 256}, {@code --step 256}, {@code --max-batch 65536}, {@code --max-probes 10},
 * {@code --spark-start 8}, {@code --spark-probes 2}, {@code --dl4j-largest N} (skip DL4J's search: a known
 * result), {@code --micro-batches auto}, {@code --timeout-s 900}, {@code --work <dir>}.
 */
public final class BatchCapacityBenchmark {
    private static final double MIB = 1024.0 * 1024.0;

    private BatchCapacityBenchmark() {
    }

    public static void main(String[] args) {
        int code = 0;
        try {
            run(args);
        } catch (RuntimeException | IOException e) {
            e.printStackTrace();
            code = 1;
        }
        System.exit(code);
    }

    private static void run(String[] args) throws IOException {
        Map<String, String> v = new LinkedHashMap<>(Map.of("contenders", "dl4j,p1,p2", "cap", "600m",
                "executor-heap-mb", "512", "side", "24", "steps", "2", "start", "256", "step", "256", "max-batch", "65536",
                "max-probes", "10", "spark-start", "8"));
        v.putAll(Map.of("spark-probes", "2", "dl4j-largest", "0", "micro-batches", "auto", "timeout-s", "900",
                "work", "batch-capacity", "driver-heap", "1g"));
        for (int i = 0; i < args.length; i++) {
            String key = args[i].startsWith("--") ? args[i].substring(2) : null;
            if (key == null || !v.containsKey(key) || i + 1 >= args.length) {
                throw new IllegalArgumentException("unknown or incomplete option " + args[i] + " (options: " + v.keySet() + ")");
            }
            v.put(key, args[++i]);
        }
        int side = Integer.parseInt(v.get("side"));
        int steps = Integer.parseInt(v.get("steps"));
        if (steps < 2) {
            throw new IllegalArgumentException("steps must be at least 2, found " + steps);
        }
        String m = v.get("micro-batches");
        Path work = Paths.get(v.get("work")).toAbsolutePath();
        Files.createDirectories(work.resolve("logs"));
        Files.createDirectories(work.resolve("out"));
        CapacityBenchmark.Options o = new CapacityBenchmark.Options(List.of(v.get("contenders").split(",")), 0, 1,
                Map.of(), new int[] {0, 0}, 0, 0, Long.parseLong(v.get("timeout-s")), steps, 0, v.get("cap"),
                Integer.parseInt(v.get("executor-heap-mb")), v.get("driver-heap"), "", work);
        List<String> probeArgs = List.of("side=" + side, "microBatches=" + m);
        Instant began = Instant.now();
        System.out.printf(Locale.ROOT, "batch capacity: conv net on %dx%d images, %s, cap %s, heap %d MiB per JVM, "
                        + "%d steps, M %s; started %s%n", side, side, o.contenders(), o.cap(), o.executorHeapMb(), steps, m,
                began.truncatedTo(ChronoUnit.SECONDS));
        Map<String, WidthSearch> searches = new LinkedHashMap<>();
        Map<String, List<CapacityBenchmark.Probe>> probes = new LinkedHashMap<>();
        int dl4jLargest = Integer.parseInt(v.get("dl4j-largest"));
        int maxBatch = Integer.parseInt(v.get("max-batch"));
        for (String c : o.contenders()) {
            WidthSearch search;
            if (c.equals("dl4j")) {
                if (dl4jLargest > 0) {
                    continue;
                }
                search = new WidthSearch(Integer.parseInt(v.get("start")), Integer.parseInt(v.get("step")), maxBatch,
                        Integer.parseInt(v.get("max-probes")));
            } else {
                if (dl4jLargest <= 0) {
                    throw new IllegalArgumentException("spark-mp contenders start from DL4J's largest batch: run dl4j "
                            + "first or give --dl4j-largest");
                }
                int start = dl4jLargest * Integer.parseInt(v.get("spark-start"));
                search = new WidthSearch(start, start, Math.max(start, maxBatch), Integer.parseInt(v.get("spark-probes")));
            }
            List<CapacityBenchmark.Probe> done = new ArrayList<>();
            for (OptionalInt b = search.next(); b.isPresent(); b = search.next()) {
                List<String> a = new ArrayList<>(probeArgs);
                a.add("batch=" + b.getAsInt());
                CapacityBenchmark.Probe p = CapacityBenchmark.probe(o, c, b.getAsInt(), "B", a);
                done.add(p);
                search.record(p.width(), p.trained());
                System.out.printf(Locale.ROOT, "probe %-5s batch=%-6d %-7s %6.1f s  %d steps%s%s%n", c, p.width(),
                        p.trained() ? "trained" : "FAILED", p.seconds(), p.steps(), microBatches(p),
                        p.trained() ? "" : "  reason: " + p.reason() + "  (log " + p.log() + ")");
            }
            searches.put(c, search);
            probes.put(c, done);
            if (c.equals("dl4j")) {
                dl4jLargest = search.largestFit();
            }
        }
        printTable(o, side, m, dl4jLargest, searches, probes, began);
    }

    /** " M=8 x 64" from the probe's log (the plan's micro-batches), or "". */
    private static String microBatches(CapacityBenchmark.Probe p) throws IOException {
        for (ProbeLog.Line l : ProbeLog.parse(Files.readAllLines(p.log(), StandardCharsets.UTF_8))) {
            if (l.kind().equals("microbatches")) {
                return "  M=" + l.get("m") + " x " + l.get("size");
            }
        }
        return "";
    }

    private static void printTable(CapacityBenchmark.Options o, int side, String m, int dl4jLargest,
                                   Map<String, WidthSearch> searches, Map<String, List<CapacityBenchmark.Probe>> probes,
                                   Instant began) throws IOException {
        System.out.printf(Locale.ROOT, "%nBatch capacity: conv net (BatchModel) on %dx%d generated images, Adam, FLOAT, "
                        + "%d steps, 1F1B, M %s; cap maxphysicalbytes=%s and -Xmx%dm per JVM, one ND4J thread; %s to %s "
                        + "(%d cores)%n", side, side, o.steps(), m, o.cap(), o.executorHeapMb(),
                began.truncatedTo(ChronoUnit.SECONDS), Instant.now().truncatedTo(ChronoUnit.SECONDS),
                Runtime.getRuntime().availableProcessors());
        System.out.printf(Locale.ROOT, "%-16s %14s %8s %16s %7s  %-34s %s%n", "contender", "largest batch", "vs fit",
                "M x micro-batch", "probes", "peak RSS MiB at largest", "first failure above");
        if (!searches.containsKey("dl4j") && dl4jLargest > 0) {
            System.out.printf(Locale.ROOT, "%-16s %14d %8s%n", "DL4J fit", dl4jLargest, "1.00x (given)");
        }
        for (Map.Entry<String, WidthSearch> e : searches.entrySet()) {
            WidthSearch s = e.getValue();
            int b = s.largestFit();
            CapacityBenchmark.Probe best = probes.get(e.getKey()).stream().filter(p -> p.trained() && p.width() == b)
                    .findFirst().orElse(null);
            CapacityBenchmark.Probe fail = probes.get(e.getKey()).stream().filter(p -> !p.trained())
                    .min(java.util.Comparator.comparingInt(CapacityBenchmark.Probe::width)).orElse(null);
            boolean lowerBound = fail == null && !e.getKey().equals("dl4j");
            System.out.printf(Locale.ROOT, "%-16s %14s %8s %16s %7d  %-34s %s%n", label(e.getKey()),
                    b > 0 ? (lowerBound ? ">= " : "") + b : "none",
                    b > 0 && dl4jLargest > 0 ? String.format(Locale.ROOT, "%s%.2fx", lowerBound ? ">=" : "",
                            b / (double) dl4jLargest) : "-",
                    best == null ? "-" : microBatches(best).replace("  M=", ""), s.probes(),
                    best == null ? "-" : peaks(best.peakBytes()),
                    fail == null ? "none probed" : "batch " + fail.width() + ": " + fail.reason());
        }
        System.out.printf(Locale.ROOT, "%nPer stage at each spark-mp contender's largest batch (predicted: the planner's "
                + "estimate; measured: the trainer's peak less start resident bytes of the stage's process)%n");
        System.out.printf(Locale.ROOT, "%-16s %8s %5s %7s %15s %12s %13s %10s %14s%n", "contender", "batch", "stage",
                "layers", "predicted MiB", "budget MiB", "measured MiB", "start MiB", "peak RSS MiB");
        for (Map.Entry<String, List<CapacityBenchmark.Probe>> e : probes.entrySet()) {
            int b = searches.get(e.getKey()).largestFit();
            for (CapacityBenchmark.Probe p : e.getValue()) {
                if (e.getKey().equals("dl4j") || !p.trained() || p.width() != b) {
                    continue;
                }
                for (CapacityBenchmark.StageRow r : p.stages()) {
                    System.out.printf(Locale.ROOT, "%-16s %8d %5d %7s %15s %12s %13s %10s %14s%n", label(p.contender()),
                            p.width(), r.stage(), r.firstLayer() + "-" + (r.endLayer() - 1), mib(r.predictedBytes()),
                            mib(r.budgetBytes()), r.measuredPeakBytes() < 0 ? "?"
                                    : mib(r.measuredPeakBytes() - r.measuredStartBytes()),
                            mib(r.measuredStartBytes()), mib(r.executorPeakBytes()));
                }
            }
        }
        if (dl4jLargest > 0 && searches.containsKey("p2")) {
            int b = searches.get("p2").largestFit();
            System.out.printf(Locale.ROOT, "target spark-mp P=2 >= 8x DL4J fit's batch: %s (%d vs %d, %.2fx)%n",
                    b >= 8L * dl4jLargest ? "met" : "NOT met", b, dl4jLargest, b / (double) dl4jLargest);
        }
    }

    private static String peaks(Map<String, Long> peaks) {
        StringBuilder b = new StringBuilder();
        peaks.forEach((k, x) -> b.append(b.length() == 0 ? "" : ", ").append(k).append(' ').append(mib(x)));
        return b.toString();
    }

    private static String label(String contender) {
        return contender.equals("dl4j") ? "DL4J fit" : "spark-mp P=" + contender.substring(1);
    }

    private static String mib(long bytes) {
        return bytes < 0 ? "?" : String.format(Locale.ROOT, "%.0f", bytes / MIB);
    }
}
