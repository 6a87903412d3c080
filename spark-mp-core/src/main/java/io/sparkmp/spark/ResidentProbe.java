package io.sparkmp.spark;

import org.apache.spark.SparkContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.Function;
import org.nd4j.linalg.factory.Nd4j;

import java.io.Serializable;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What an executor process really holds before training: its javacpp cap, its resident bytes once ND4J is
 * loaded, and its maximum heap. Measured on an executor by a one-task job ({@value #DESCRIPTION}), or in the
 * driver's own JVM in local mode, and cached per application (executors keep their JVM for its life).
 *
 * @param capBytes javacpp's {@code maxphysicalbytes} of that process; 0 when unlimited
 * @param residentBytes its resident bytes when measured
 * @param heapMaxBytes its maximum Java heap
 * @param where "driver (local mode)" or "executor &lt;id&gt;"
 */
record ResidentProbe(long capBytes, long residentBytes, long heapMaxBytes, String where) implements Serializable {
    private static final long serialVersionUID = 1L;

    /** Spark job description of the probe job (tests find it by this prefix). */
    static final String DESCRIPTION = "spark-mp memory probe";
    private static final Map<String, ResidentProbe> CACHE = new ConcurrentHashMap<>();

    /** This JVM, after loading ND4J (its native libraries are part of what a training task starts with). */
    static ResidentProbe here(String where) {
        Nd4j.getBackend();
        Nd4j.scalar(0f).close();
        return new ResidentProbe(ProcessMemory.capBytes(), ProcessMemory.residentBytes(),
                Runtime.getRuntime().maxMemory(), where);
    }

    /**
     * The driver JVM in local mode, else one executor (one job per application); measured once per
     * application, then cached, so that every plan of an application sees the same budget.
     */
    static ResidentProbe of(SparkContext sc) {
        return CACHE.computeIfAbsent(sc.applicationId(), id -> sc.isLocal() ? here("driver (local mode)") : onExecutor(sc));
    }

    private static ResidentProbe onExecutor(SparkContext sc) {
        String previous = sc.getLocalProperty("spark.job.description");
        sc.setJobDescription(DESCRIPTION);
        try {
            List<byte[]> out = JavaSparkContext.fromSparkContext(sc).parallelize(List.of(0), 1)
                    .map(new Measure()).collect();
            return JavaBytes.read(out.get(0), ResidentProbe.class);
        } finally {
            sc.setJobDescription(previous);
        }
    }

    /** The probe task. */
    private static final class Measure implements Function<Integer, byte[]> {
        private static final long serialVersionUID = 1L;

        @Override
        public byte[] call(Integer ignored) {
            org.apache.spark.SparkEnv env = org.apache.spark.SparkEnv.get();
            return JavaBytes.of(here("executor " + (env != null ? env.executorId() : "?")));
        }
    }

    /**
     * The budget per device this process leaves: cap less resident bytes less {@code marginBytes}; a process
     * capped at 0 (unlimited) gets its maximum heap.
     *
     * @throws IllegalArgumentException when the process already holds so much of its cap that less than the
     *     margin is left, naming the figures and the settings to change
     */
    long budget(long marginBytes) {
        if (capBytes <= 0) {
            return heapMaxBytes;
        }
        long left = capBytes - residentBytes - marginBytes;
        if (left <= 0) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                    "no memory left for training on the %s: its javacpp cap (maxphysicalbytes) is %d bytes "
                            + "(%.1f MiB), it already holds %d bytes (%.1f MiB) resident, and the planner keeps a "
                            + "margin of %d bytes (%.1f MiB); raise -Dorg.bytedeco.javacpp.maxphysicalbytes or set "
                            + "spark.mp.device.memory", where, capBytes, mib(capBytes), residentBytes,
                    mib(residentBytes), marginBytes, mib(marginBytes)));
        }
        return left;
    }

    /** How the budget was derived, for the log. */
    String describe(long marginBytes, int ranksPerProcess) {
        if (capBytes <= 0) {
            return String.format(Locale.ROOT, "the %s has no javacpp cap: its maximum heap %.1f MiB", where,
                    mib(heapMaxBytes));
        }
        return String.format(Locale.ROOT, "javacpp cap %.1f MiB less %.1f MiB resident on the %s less margin %.1f MiB%s",
                mib(capBytes), mib(residentBytes), where, mib(marginBytes),
                ranksPerProcess > 1 ? ", shared by " + ranksPerProcess + " ranks in that process" : "");
    }

    private static double mib(long b) {
        return b / (1024.0 * 1024.0);
    }
}
