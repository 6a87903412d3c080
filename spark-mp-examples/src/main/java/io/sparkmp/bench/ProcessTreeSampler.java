package io.sparkmp.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Follows a process and its descendants (Spark executors are children of the driver JVM) from {@code /proc}
 * while it runs: each process's peak resident set ({@code VmHWM} of {@code /proc/<pid>/status}) and command
 * line. {@code VmHWM} only grows, so the last sample before a process ends is its peak up to one period.
 * Linux only; elsewhere peaks stay unknown (-1).
 */
final class ProcessTreeSampler implements AutoCloseable {
    private static final Pattern HWM = Pattern.compile("^VmHWM:\\s+(\\d+)\\s+kB", Pattern.MULTILINE);
    private static final Pattern EXECUTOR_ID = Pattern.compile("--executor-id\u0000([^\u0000]+)");

    /** One process seen: its handle (to stop it by pid later), command line and peak resident bytes. */
    static final class Seen {
        final ProcessHandle handle;
        volatile String commandLine = "";
        volatile long peakBytes = -1;

        Seen(ProcessHandle handle) {
            this.handle = handle;
        }

        /** The Spark executor id when this is an executor JVM, else null. */
        String executorId() {
            Matcher m = EXECUTOR_ID.matcher(commandLine);
            return commandLine.contains("CoarseGrainedExecutorBackend") && m.find() ? m.group(1) : null;
        }
    }

    private final ProcessHandle root;
    private final Map<Long, Seen> seen = new ConcurrentHashMap<>();
    private final Thread thread;
    private volatile boolean running = true;

    ProcessTreeSampler(ProcessHandle root, long periodMillis) {
        this.root = root;
        this.thread = new Thread(() -> {
            while (running) {
                sample();
                try {
                    Thread.sleep(periodMillis);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "capacity-rss-sampler-" + root.pid());
        thread.setDaemon(true);
        thread.start();
    }

    /** Reads every live process of the tree once. */
    void sample() {
        List<ProcessHandle> tree = new ArrayList<>();
        tree.add(root);
        try (Stream<ProcessHandle> d = root.descendants()) {
            d.forEach(tree::add);
        }
        for (ProcessHandle h : tree) {
            Seen s = seen.computeIfAbsent(h.pid(), pid -> new Seen(h));
            // Read again each time: just after the fork a child still shows its parent's command line.
            String cmd = commandLine(h.pid());
            if (!cmd.isEmpty()) {
                s.commandLine = cmd;
            }
            long hwm = peakResidentBytes(h.pid());
            if (hwm > s.peakBytes) {
                s.peakBytes = hwm;
            }
        }
    }

    /** Every process seen so far, the root first. */
    List<Seen> seen() {
        List<Seen> out = new ArrayList<>();
        Seen r = seen.get(root.pid());
        if (r != null) {
            out.add(r);
        }
        seen.values().stream().filter(s -> s != r).sorted((x, y) -> Long.compare(x.handle.pid(), y.handle.pid()))
                .forEach(out::add);
        return out;
    }

    /** Kills (SIGKILL) every process seen that still runs, descendants first; handles check the start time. */
    void killAll() {
        List<Seen> all = seen();
        for (int i = all.size() - 1; i >= 0; i--) {
            if (all.get(i).handle.isAlive()) {
                all.get(i).handle.destroyForcibly();
            }
        }
    }

    @Override
    public void close() {
        running = false;
        thread.interrupt();
        try {
            thread.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * One reading, now, of the executor JVMs among {@code root}'s descendants: executor id to peak resident bytes.
     * The probe calls it on itself before stopping Spark, a second source next to the sampling from outside.
     */
    static Map<String, Long> executorPeaks(ProcessHandle root) {
        Map<String, Long> out = new java.util.TreeMap<>();
        try (Stream<ProcessHandle> d = root.descendants()) {
            d.forEach(h -> {
                Seen s = new Seen(h);
                s.commandLine = commandLine(h.pid());
                if (s.executorId() != null) {
                    out.merge(s.executorId(), peakResidentBytes(h.pid()), Math::max);
                }
            });
        }
        return out;
    }

    /** {@code VmHWM} of a process in bytes, or -1 when it cannot be read (gone, or not Linux). */
    static long peakResidentBytes(long pid) {
        try {
            Matcher m = HWM.matcher(Files.readString(Paths.get("/proc", Long.toString(pid), "status")));
            return m.find() ? Long.parseLong(m.group(1)) * 1024 : -1;
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /** The NUL-separated {@code /proc/<pid>/cmdline}, or "" when it cannot be read. */
    private static String commandLine(long pid) {
        try {
            return new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline")), StandardCharsets.UTF_8);
        } catch (IOException | RuntimeException e) {
            return "";
        }
    }
}
