package io.sparkmp.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * How large a model can each contender train under the same memory cap per JVM? DL4J's own {@code fit} in one
 * JVM, and spark-mp with P stages on {@code local-cluster[P,1,heap]} (one executor JVM per stage), both with
 * {@code -Dorg.bytedeco.javacpp.maxphysicalbytes=<cap>} (which caps the whole process's resident memory) and
 * {@code -Xmx<heap>} per JVM, one ND4J thread; the spark-mp driver gets the same cap and {@code -Xmx1g} at most,
 * so a model whose state exceeds the cap never sits whole in any JVM. Model: {@link CapacityModel}, 784-W x
 * hidden-10.
 *
 * <p>Every probe (one contender, one width) is a fresh JVM ({@link CapacityProbe}) so that running out of memory
 * ends only that probe. It succeeds when it took at least two optimizer steps and wrote a model that checks out;
 * otherwise its output (and its executors' stderr) gives the reason: heap OOM, the off-heap cap, the planner
 * finding no split that fits, or the wall-clock timeout (then it is killed by pid with its executors). Per
 * contender, {@link WidthSearch} doubles W from a start, then bisects to {@code --step}. Spark-mp contenders
 * start from the largest W the previous contender trained. It prints every probe, then the table: largest W,
 * parameters, ratio to DL4J, peak resident memory ({@code VmHWM}) of every JVM, and per stage the planner's
 * predicted memory against its budget. Timings and capacities are printed, not asserted.
 *
 * <p>Run: {@code OMP_NUM_THREADS=1 mvn -B -q -pl spark-mp-examples -am -DskipTests -Pcapacity-bench package}
 * ({@code -Dbench.args="--quick"} for a smoke run of two small probes per contender). Options: {@code --contenders
 * dl4j,p2,p4}, {@code --hidden 9}, {@code --step 128}, {@code --start 1024} (or per contender
 * {@code dl4j=3072,p4=6144}; {@code W:H} probes H after a successful W instead of 2W, to re-check an earlier
 * run's bracket with two probes), {@code --max-width 16384}, {@code --max-probes 12} (per contender),
 * {@code --timeout-s 1500} (per probe; a timeout counts as a failure, named as such), {@code --steps 3}, {@code --micro-batches auto} (the planner's choice, printed per probe; or a number), {@code --cap 1500m},
 * {@code --executor-heap-mb 512}, {@code --driver-heap 1g}, {@code --device-memory <bytes>} (sets
 * {@code spark.mp.device.memory}; default: the trainer derives the budget), {@code --work <dir>}. Spark-mp
 * contenders need {@code SPARK_HOME} with the runtime jars in {@code jars/}, {@code SPARK_SCALA_VERSION=2.12} and
 * {@code -Dsparkmp.appJars}; the profile sets all three.
 */
public final class CapacityBenchmark {
    private static final double MIB = 1024.0 * 1024.0;
    /** Parameters, Adam's two moments: what a trained model holds (FLOAT); the gradient adds 4 bytes more. */
    private static final int STATE_BYTES_PER_PARAMETER = 12;

    private CapacityBenchmark() {
    }

    /** The benchmark's settings (see the class comment for the options). */
    record Options(List<String> contenders, int hidden, int step, Map<String, int[]> starts, int[] defaultStart,
                   int maxWidth, int maxProbes, long timeoutSeconds, int steps, int microBatches, String cap,
                   int executorHeapMb, String driverHeap, String deviceMemory, Path work) {

        static Options parse(String[] args) {
            Map<String, String> v = new LinkedHashMap<>();
            boolean quick = false;
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                if (a.equals("--quick")) {
                    quick = true;
                } else if (a.startsWith("--") && i + 1 < args.length) {
                    v.put(a.substring(2), args[++i]);
                } else {
                    throw new IllegalArgumentException("unknown or incomplete option " + a
                            + " (options: --quick, --contenders, --hidden, --step, --start, --max-width, --max-probes, "
                            + "--timeout-s, --steps, --micro-batches, --cap, --executor-heap-mb, --driver-heap, "
                            + "--device-memory, --work)");
                }
            }
            Map<String, int[]> starts = new LinkedHashMap<>();
            int[] defaultStart = {quick ? 256 : 1024, 0};
            String start = v.remove("start");
            if (start != null) {
                for (String s : start.split(",")) {
                    int eq = s.indexOf('=');
                    if (eq < 0) {
                        defaultStart = startOf(s);
                    } else {
                        starts.put(s.substring(0, eq).trim(), startOf(s.substring(eq + 1)));
                    }
                }
            }
            Options o = new Options(List.of(v.getOrDefault("contenders", "dl4j,p2,p4").split(",")),
                    intOf("hidden", v.getOrDefault("hidden", "9")), intOf("step", v.getOrDefault("step", "128")),
                    starts, defaultStart, intOf("max-width", v.getOrDefault("max-width", quick ? "512" : "16384")),
                    intOf("max-probes", v.getOrDefault("max-probes", quick ? "2" : "12")),
                    intOf("timeout-s", v.getOrDefault("timeout-s", quick ? "900" : "1500")),
                    intOf("steps", v.getOrDefault("steps", "3")), microBatchesOf(v.getOrDefault("micro-batches", "auto")),
                    v.getOrDefault("cap", "1500m"), intOf("executor-heap-mb", v.getOrDefault("executor-heap-mb", "512")),
                    v.getOrDefault("driver-heap", "1g"), v.getOrDefault("device-memory", ""),
                    Paths.get(v.getOrDefault("work", "capacity-bench")).toAbsolutePath());
            for (String k : List.of("contenders", "hidden", "step", "max-width", "max-probes", "timeout-s", "steps",
                    "micro-batches", "cap", "executor-heap-mb", "driver-heap", "device-memory", "work")) {
                v.remove(k);
            }
            if (!v.isEmpty()) {
                throw new IllegalArgumentException("unknown options " + v.keySet());
            }
            for (String c : o.contenders) {
                if (!c.equals("dl4j") && !c.matches("p[1-9][0-9]*")) {
                    throw new IllegalArgumentException("contenders are dl4j or p<stages>, found " + c);
                }
            }
            if (o.steps < 2) {
                throw new IllegalArgumentException("steps must be at least 2 (a probe needs two optimizer steps), found "
                        + o.steps);
            }
            return o;
        }

        /** {@code W} or {@code W:hint} (the width to probe after a successful W, instead of 2W). */
        private static int[] startOf(String text) {
            int colon = text.indexOf(':');
            return colon < 0 ? new int[] {intOf("start", text), 0}
                    : new int[] {intOf("start", text.substring(0, colon)), intOf("start", text.substring(colon + 1))};
        }

        /** {@code auto} (0: the planner chooses) or a positive number of micro-batches. */
        private static int microBatchesOf(String v) {
            return v.equalsIgnoreCase("auto") ? 0 : intOf("micro-batches", v);
        }

        private static int intOf(String key, String text) {
            try {
                return Integer.parseInt(text.trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("`--" + key + "` should be int, but was `" + text + "`", e);
            }
        }

        boolean sparkMp(String contender) {
            return !contender.equals("dl4j");
        }
    }

    /** One stage of a spark-mp probe: the plan's prediction and the JVM that ran it. */
    record StageRow(int stage, int microBatches, int firstLayer, int endLayer, long parameters, long predictedBytes, long budgetBytes,
                    String executor, long executorPeakBytes, long measuredStartBytes, long measuredPeakBytes) {
    }

    /**
     * One probe's outcome.
     *
     * @param peakBytes peak resident bytes per JVM ("JVM" or "driver", "executor N"), -1 where unknown
     */
    record Probe(String contender, int width, boolean trained, String reason, double seconds, long steps,
                 Map<String, Long> peakBytes, List<StageRow> stages, Path log) {
    }

    public static void main(String[] args) {
        int code = 0;
        try {
            run(Options.parse(args));
        } catch (RuntimeException | IOException e) {
            e.printStackTrace();
            code = 1;
        }
        System.exit(code);
    }

    private static void run(Options o) throws IOException {
        if (o.contenders.stream().anyMatch(o::sparkMp)) {
            if (System.getenv("SPARK_HOME") == null || System.getProperty("sparkmp.appJars") == null) {
                throw new IllegalArgumentException("spark-mp contenders need SPARK_HOME and -Dsparkmp.appJars "
                        + "(the capacity-bench profile sets both), found SPARK_HOME=" + System.getenv("SPARK_HOME")
                        + ", sparkmp.appJars=" + System.getProperty("sparkmp.appJars"));
            }
        }
        Files.createDirectories(o.work.resolve("logs"));
        Files.createDirectories(o.work.resolve("out"));
        Instant began = Instant.now();
        System.out.printf(Locale.ROOT, "capacity benchmark: MLP 784-W x %d-10, %s, cap %s, heap %d MiB per JVM%s; "
                        + "started %s%n", o.hidden, o.contenders, o.cap, o.executorHeapMb,
                o.contenders.stream().anyMatch(o::sparkMp) ? ", spark-mp driver heap " + o.driverHeap : "",
                began.truncatedTo(ChronoUnit.SECONDS));
        Map<String, WidthSearch> searches = new LinkedHashMap<>();
        Map<String, List<Probe>> probes = new LinkedHashMap<>();
        int previousLargest = 0;
        for (String c : o.contenders) {
            int[] start = o.starts.getOrDefault(c,
                    o.sparkMp(c) && previousLargest > 0 ? new int[] {previousLargest, 0} : o.defaultStart);
            WidthSearch search = new WidthSearch(start[0], start[1], o.step, o.maxWidth, o.maxProbes);
            List<Probe> done = new ArrayList<>();
            for (OptionalInt w = search.next(); w.isPresent(); w = search.next()) {
                Probe p = probe(o, c, w.getAsInt());
                done.add(p);
                search.record(p.width, p.trained);
                printProbe(p);
            }
            searches.put(c, search);
            probes.put(c, done);
            previousLargest = search.largestFit() > 0 ? search.largestFit() : previousLargest;
        }
        printTable(o, searches, probes, began);
    }

    /** Runs one probe JVM to its end or its timeout, sampling the resident memory of it and its children. */
    static Probe probe(Options o, String contender, int width) throws IOException {
        return probe(o, contender, width, "W", List.of("width=" + width, "hidden=" + o.hidden));
    }

    /**
     * As {@link #probe(Options, String, int)} for a probe of any size: {@code tag + size} names it (W: width, B:
     * batch), {@code args} are its own {@link CapacityProbe} arguments besides the common ones.
     */
    static Probe probe(Options o, String contender, int size, String tag, List<String> args) throws IOException {
        int width = size;
        String name = contender + "-" + tag + size;
        Path log = o.work.resolve("logs").resolve(name + ".log");
        Path out = o.work.resolve("out").resolve(o.sparkMp(contender) ? name : name + ".zip");
        deleteTree(out);
        List<String> cmd = new ArrayList<>();
        cmd.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(inheritedJvmFlags());
        cmd.add("-Xmx" + (o.sparkMp(contender) ? o.driverHeap : o.executorHeapMb + "m"));
        cmd.add("-Dorg.bytedeco.javacpp.maxphysicalbytes=" + o.cap);
        // DL4J writes a memory crash dump on an OOM, by default into the working directory.
        cmd.add("-Dorg.deeplearning4j.crash.reporting.directory=" + log.getParent());
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), CapacityProbe.class.getName(),
                "contender=" + contender, "steps=" + o.steps,
                "microBatches=" + o.microBatches, "out=" + out, "cap=" + o.cap, "executorHeapMb=" + o.executorHeapMb,
                "deviceMemory=" + o.deviceMemory));
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("OMP_NUM_THREADS", "1");
        long t0 = System.nanoTime();
        Process proc = pb.start();
        boolean finished;
        List<ProcessTreeSampler.Seen> seen;
        try (ProcessTreeSampler sampler = new ProcessTreeSampler(proc.toHandle(), 200)) {
            try {
                finished = proc.waitFor(o.timeoutSeconds, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                finished = false;
            }
            sampler.close();
            sampler.killAll(); // on a timeout the probe and its executors; otherwise executors left behind, if any
            seen = sampler.seen();
        }
        try {
            proc.waitFor(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        try {
            return outcome(o, contender, width, name, log, finished, finished ? proc.exitValue() : -1, seconds, seen);
        } finally {
            deleteTree(out); // a trained model is gigabytes: keep only the log
        }
    }

    private static Probe outcome(Options o, String contender, int width, String name, Path log, boolean finished, int exit,
                                 double seconds, List<ProcessTreeSampler.Seen> seen) throws IOException {
        String text = Files.readString(log, StandardCharsets.UTF_8);
        List<ProbeLog.Line> lines = ProbeLog.parse(List.of(text.split("\n")));
        String root = o.sparkMp(contender) ? "driver" : "JVM";
        Map<String, Long> peaks = new LinkedHashMap<>();
        Map<String, String> texts = new LinkedHashMap<>();
        texts.put(root, text);
        peaks.put(root, seen.isEmpty() ? -1L : seen.get(0).peakBytes);
        seen.stream().filter(s -> s.executorId() != null).sorted(Comparator.comparing(ProcessTreeSampler.Seen::executorId))
                .forEach(s -> peaks.put("executor " + s.executorId(), s.peakBytes));
        String appId = lines.stream().filter(l -> l.kind().equals("app")).map(l -> l.get("id")).findFirst().orElse(null);
        if (appId != null && System.getenv("SPARK_HOME") != null) {
            texts.putAll(executorLogs(Paths.get(System.getenv("SPARK_HOME"), "work", appId),
                    o.work.resolve("logs"), name));
        }
        Map<Integer, String> executorOfRank = new LinkedHashMap<>();
        Map<Integer, long[]> measured = new LinkedHashMap<>(); // device: start, peak (the trainer's own reading)
        long steps = 0;
        boolean ok = false;
        List<StageRow> stages = new ArrayList<>();
        for (ProbeLog.Line l : lines) {
            switch (l.kind()) {
                case "rank" -> executorOfRank.put(Integer.parseInt(l.get("rank")), l.get("executor"));
                case "trained" -> steps = l.getLong("steps");
                case "ok" -> ok = true;
                case "measured" -> measured.put(Integer.parseInt(l.get("device")),
                        new long[] {l.getLong("start"), l.getLong("peak")});
                // The probe's own reading before it stopped Spark: the sampling from here can miss a process.
                case "rss" -> peaks.merge("executor " + l.get("executor"), l.getLong("peak"), Math::max);
                default -> {
                }
            }
        }
        for (ProbeLog.Line l : lines) {
            if (l.kind().equals("plan")) {
                int s = Integer.parseInt(l.get("stage"));
                String ex = executorOfRank.get(s);
                long[] m = measured.getOrDefault(s, new long[] {-1, -1}); // one stage per device here (v = 1)
                stages.add(new StageRow(s, Integer.parseInt(l.get("m")), Integer.parseInt(l.get("first")), Integer.parseInt(l.get("end")),
                        l.getLong("params"), l.getLong("predicted"), l.getLong("budget"), ex,
                        ex == null ? -1 : peaks.getOrDefault("executor " + ex, -1L), m[0], m[1]));
            }
        }
        boolean trained = finished && exit == 0 && ok;
        String reason = null;
        if (!trained) {
            if (!finished) {
                reason = "timeout after " + o.timeoutSeconds + " s (killed)";
            } else {
                reason = ProbeLog.failure(texts);
                if (reason == null) {
                    String last = ProbeLog.lastException(text);
                    reason = "exit code " + exit + (last == null ? "" : ": " + last);
                }
            }
        }
        return new Probe(contender, width, trained, reason, seconds, steps, peaks, stages, log);
    }

    /** Each executor's stderr under the app's work folder, copied next to the probe's log; the folder deleted. */
    private static Map<String, String> executorLogs(Path appDir, Path logs, String name) throws IOException {
        Map<String, String> out = new LinkedHashMap<>();
        if (!Files.isDirectory(appDir)) {
            return out;
        }
        try (Stream<Path> dirs = Files.list(appDir)) {
            for (Path d : dirs.sorted().toList()) {
                Path err = d.resolve("stderr");
                if (Files.isRegularFile(err)) {
                    Files.copy(err, logs.resolve(name + "-executor-" + d.getFileName() + ".stderr"),
                            java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                    out.put("executor " + d.getFileName(), Files.readString(err, StandardCharsets.UTF_8));
                }
            }
        }
        deleteTree(appDir);
        return out;
    }

    /** This JVM's flags that a probe needs too (Spark's --add-opens, javacpp cache, temp dir), less memory ones. */
    private static List<String> inheritedJvmFlags() {
        List<String> out = new ArrayList<>();
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (a.startsWith("-Xmx") || a.startsWith("-Xms") || a.startsWith("-XX:MaxRAM")
                    || a.toLowerCase(Locale.ROOT).startsWith("-dorg.bytedeco.javacpp.max")
                    || a.startsWith("-agentlib") || a.startsWith("-javaagent")) {
                continue;
            }
            out.add(a);
        }
        return out;
    }

    private static void printProbe(Probe p) {
        StringBuilder rss = new StringBuilder();
        p.peakBytes.forEach((k, v) -> rss.append(rss.length() == 0 ? "" : ", ").append(k).append(' ').append(mib(v)));
        System.out.printf(Locale.ROOT, "probe %-5s W=%-6d %-7s %6.1f s  %d steps  peak RSS MiB: %s%s%n", p.contender,
                p.width, p.trained ? "trained" : "FAILED", p.seconds, p.steps, rss,
                p.trained ? "" : "  reason: " + p.reason + "  (log " + p.log + ")");
    }

    private static void printTable(Options o, Map<String, WidthSearch> searches, Map<String, List<Probe>> probes,
                                   Instant began) {
        long dl4jParams = searches.containsKey("dl4j") && searches.get("dl4j").largestFit() > 0
                ? CapacityModel.parameters(searches.get("dl4j").largestFit(), o.hidden) : 0;
        System.out.printf(Locale.ROOT, "%nCapacity: MLP 784-W x %d-10 (ReLU, softmax, Adam, FLOAT, batch %d, %d steps, "
                        + "spark-mp M=%s 1F1B), cap maxphysicalbytes=%s and -Xmx%dm per JVM, one ND4J thread; "
                        + "spark-mp driver -Xmx%s; %s to %s on %s (%d cores)%n", o.hidden, CapacityModel.BATCH, o.steps,
                o.microBatches == 0 ? "auto" : String.valueOf(o.microBatches), o.cap, o.executorHeapMb, o.driverHeap, began.truncatedTo(ChronoUnit.SECONDS),
                Instant.now().truncatedTo(ChronoUnit.SECONDS), host(), Runtime.getRuntime().availableProcessors());
        System.out.printf(Locale.ROOT, "%-14s %9s %12s %13s %8s %7s  %-30s %s%n", "contender", "largest W", "parameters",
                "state GiB(*)", "vs DL4J", "probes", "peak RSS MiB at largest W", "first failure above");
        for (Map.Entry<String, WidthSearch> e : searches.entrySet()) {
            WidthSearch s = e.getValue();
            int w = s.largestFit();
            long params = w > 0 ? CapacityModel.parameters(w, o.hidden) : 0;
            Probe best = probes.get(e.getKey()).stream().filter(p -> p.trained && p.width == w).findFirst().orElse(null);
            Probe fail = probes.get(e.getKey()).stream().filter(p -> !p.trained)
                    .min(Comparator.comparingInt(Probe::width)).orElse(null);
            String rss = best == null ? "-" : peakSummary(best.peakBytes);
            System.out.printf(Locale.ROOT, "%-14s %9s %12s %13s %8s %7d  %-30s %s%n", label(e.getKey()),
                    w > 0 ? Integer.toString(w) : "none", w > 0 ? String.format(Locale.ROOT, "%.1f M", params / 1e6) : "-",
                    w > 0 ? String.format(Locale.ROOT, "%.2f", params * (double) STATE_BYTES_PER_PARAMETER / (MIB * 1024)) : "-",
                    dl4jParams > 0 && params > 0 ? String.format(Locale.ROOT, "%.2fx", params / (double) dl4jParams) : "-",
                    s.probes(), rss, fail == null ? (s.largestFit() >= o.maxWidth ? "none up to --max-width" : "none probed")
                            : "W=" + fail.width + ": " + fail.reason + (s.converged() ? "" : " (not converged)"));
        }
        System.out.printf(Locale.ROOT, "(*) parameters + Adam's two moments, 12 bytes per parameter; DL4J's fit adds "
                + "4 more for the gradient while training (spark-mp: one layer's gradient at M = 1, all layers' plus one "
                + "at M > 1); cap %s%n", o.cap);
        System.out.printf(Locale.ROOT, "%nPer stage, at each spark-mp contender's largest W (predicted: the planner's "
                + "estimate; measured: the trainer's peak less start resident bytes of the stage's process; RSS: "
                + "VmHWM of the stage's executor JVM)%n");
        System.out.printf(Locale.ROOT, "%-14s %6s %3s %5s %7s %12s %15s %12s %13s %10s %9s %14s%n", "contender", "W", "M", "stage",
                "layers", "parameters", "predicted MiB", "budget MiB", "measured MiB", "start MiB", "executor",
                "peak RSS MiB");
        for (Map.Entry<String, List<Probe>> e : probes.entrySet()) {
            int w = searches.get(e.getKey()).largestFit();
            for (Probe p : e.getValue()) {
                if (!o.sparkMp(p.contender) || !p.trained || p.width != w) {
                    continue;
                }
                for (StageRow r : p.stages) {
                    System.out.printf(Locale.ROOT, "%-14s %6d %3d %5d %7s %12d %15s %12s %13s %10s %9s %14s%n",
                            label(p.contender), p.width, r.microBatches, r.stage, r.firstLayer + "-" + (r.endLayer - 1), r.parameters,
                            mib(r.predictedBytes), mib(r.budgetBytes),
                            r.measuredPeakBytes < 0 ? "?" : mib(r.measuredPeakBytes - r.measuredStartBytes),
                            mib(r.measuredStartBytes), r.executor == null ? "?" : r.executor, mib(r.executorPeakBytes));
                }
            }
        }
        if (dl4jParams > 0) {
            for (String c : searches.keySet()) {
                if (c.equals("p2") || c.equals("p4")) {
                    double target = c.equals("p2") ? 1.8 : 3.6;
                    long params = searches.get(c).largestFit() > 0
                            ? CapacityModel.parameters(searches.get(c).largestFit(), o.hidden) : 0;
                    System.out.printf(Locale.ROOT, "target %s >= %.1fx DL4J's parameters: %s (%.2fx)%n", label(c), target,
                            params >= target * dl4jParams ? "met" : "NOT met", params / (double) dl4jParams);
                }
            }
        }
    }

    private static String peakSummary(Map<String, Long> peaks) {
        StringBuilder b = new StringBuilder();
        long maxExec = -1;
        for (Map.Entry<String, Long> e : peaks.entrySet()) {
            if (e.getKey().startsWith("executor")) {
                maxExec = Math.max(maxExec, e.getValue());
            } else {
                b.append(e.getKey()).append(' ').append(mib(e.getValue()));
            }
        }
        if (maxExec >= 0) {
            b.append(", executors <= ").append(mib(maxExec));
        }
        return b.toString();
    }

    private static String label(String contender) {
        return contender.equals("dl4j") ? "DL4J fit" : "spark-mp P=" + contender.substring(1);
    }

    private static String mib(long bytes) {
        return bytes < 0 ? "?" : String.format(Locale.ROOT, "%.0f", bytes / MIB);
    }

    private static String host() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "unknown host";
        }
    }

    private static void deleteTree(Path p) {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(p)) {
            for (Path q : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(q);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete " + p, e);
        }
    }

}
