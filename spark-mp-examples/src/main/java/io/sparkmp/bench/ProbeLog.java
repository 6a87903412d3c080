package io.sparkmp.bench;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The line protocol between {@link CapacityProbe} and {@link CapacityBenchmark}: the probe prints
 * {@code CAPACITY <kind> key=value ...} (values without spaces), the benchmark reads them back from the probe's
 * log; and the reading of a failed probe's output (its own, and its executors' stderr) as a failure reason.
 */
final class ProbeLog {
    static final String PREFIX = "CAPACITY ";

    /** One protocol line: its kind and its values in order. */
    record Line(String kind, Map<String, String> values) {
        Line {
            values = Map.copyOf(values);
        }

        String get(String key) {
            String v = values.get(key);
            if (v == null) {
                throw new IllegalArgumentException("line '" + kind + "' has no " + key + ", found " + values.keySet());
            }
            return v;
        }

        long getLong(String key) {
            return Long.parseLong(get(key));
        }
    }

    /** The kinds of failure a probe reports, in the order they are named when several appear. */
    enum Failure {
        PLANNER_INFEASIBLE("planner infeasible", Pattern.compile("InfeasiblePlanException")),
        OFF_HEAP_CAP("off-heap cap", Pattern.compile("Physical memory usage is too high|maxPhysicalBytes \\(")),
        OOM_HEAP("OOM heap", Pattern.compile("OutOfMemoryError: (Java heap space|GC overhead limit exceeded"
                + "|Requested array size exceeds VM limit)")),
        OOM_OTHER("OOM", Pattern.compile("OutOfMemoryError(?!: (Java heap space|GC overhead|Requested array"
                + "|Physical memory usage))")),
        EXECUTOR_LOST("executor lost", Pattern.compile("ExecutorLostFailure"));

        final String label;
        final Pattern pattern;

        Failure(String label, Pattern pattern) {
            this.label = label;
            this.pattern = pattern;
        }
    }

    private ProbeLog() {
    }

    /** Prints one protocol line: {@code kind} then key/value pairs (values' spaces become underscores). */
    static void say(String kind, Object... keyValues) {
        if (keyValues.length % 2 != 0) {
            throw new IllegalArgumentException("key/value pairs expected, found " + keyValues.length + " values");
        }
        StringBuilder b = new StringBuilder(PREFIX).append(kind);
        for (int i = 0; i < keyValues.length; i += 2) {
            b.append(' ').append(keyValues[i]).append('=').append(String.valueOf(keyValues[i + 1]).replace(' ', '_'));
        }
        System.out.println(b);
    }

    /** The protocol lines among {@code lines}, in order. */
    static List<Line> parse(List<String> lines) {
        List<Line> out = new ArrayList<>();
        for (String l : lines) {
            if (!l.startsWith(PREFIX)) {
                continue;
            }
            String[] tok = l.substring(PREFIX.length()).trim().split(" +");
            Map<String, String> values = new LinkedHashMap<>();
            for (int i = 1; i < tok.length; i++) {
                int eq = tok[i].indexOf('=');
                if (eq > 0) {
                    values.put(tok[i].substring(0, eq), tok[i].substring(eq + 1));
                }
            }
            out.add(new Line(tok[0], values));
        }
        return out;
    }

    /**
     * Why a probe failed, from the texts of its processes (e.g. "driver" and "executor 2" to their output): each
     * kind of {@link Failure} found, with the processes that show it, e.g. "off-heap cap (executor 1, executor
     * 3); executor lost (driver)"; null when none shows a known kind.
     */
    static String failure(Map<String, String> textBySource) {
        List<String> parts = new ArrayList<>();
        for (Failure f : Failure.values()) {
            List<String> where = new ArrayList<>();
            String detail = null;
            for (Map.Entry<String, String> e : textBySource.entrySet()) {
                Matcher m = f.pattern.matcher(e.getValue());
                if (m.find()) {
                    where.add(e.getKey());
                    // The planner's message, from the first mention that has one (the probe's own line has none).
                    do {
                        if (detail == null && f == Failure.PLANNER_INFEASIBLE) {
                            String rest = restOfLine(e.getValue(), m.end());
                            detail = rest.isBlank() ? null : rest;
                        }
                    } while (detail == null && f == Failure.PLANNER_INFEASIBLE && m.find());
                }
            }
            if (!where.isEmpty()) {
                // "OOM" is implied by a more specific OOM kind in the same process (the probe prints its class).
                if (f == Failure.OOM_OTHER && parts.stream().anyMatch(p -> p.startsWith("off-heap") || p.startsWith("OOM"))) {
                    continue;
                }
                parts.add(f.label + (detail == null || detail.isBlank() ? "" : ": " + detail)
                        + " (" + String.join(", ", where) + ")");
            }
        }
        return parts.isEmpty() ? null : String.join("; ", parts);
    }

    /** The last line that names an exception or error, for a failure of no known kind; null when none. */
    static String lastException(String text) {
        String found = null;
        for (String l : text.split("\n")) {
            String t = l.trim();
            if (!t.startsWith("at ") && t.matches(".*\\b[A-Za-z0-9_.$]+(Exception|Error)\\b.*")) {
                found = t;
            }
        }
        return found == null ? null : shorten(found, 160);
    }

    private static String restOfLine(String text, int from) {
        int end = text.indexOf('\n', from);
        String rest = text.substring(from, end < 0 ? text.length() : end).replaceFirst("^:\\s*", "").trim();
        return shorten(rest, 160);
    }

    private static String shorten(String s, int max) {
        return s.length() <= max ? s : s.substring(0, max - 3) + "...";
    }
}
