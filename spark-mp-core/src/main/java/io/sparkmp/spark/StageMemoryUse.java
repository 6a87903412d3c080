package io.sparkmp.spark;

import io.sparkmp.plan.PipelinePlan;
import io.sparkmp.plan.StagePlan;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * One pipeline device's memory, predicted next to measured: the planner's estimate for its stages (the sum of
 * their {@link io.sparkmp.plan.StageMemory#totalBytes()}) against what its process really held (javacpp
 * resident bytes) over the first sampled steps. The stage's own growth is {@link #measuredBytes()}, the peak
 * less the resident bytes at task start (JVM, Spark and ND4J's libraries, which the estimate leaves out).
 *
 * <p>What the estimate leaves out of that growth: heap the task allocates (Spark's task objects, step records,
 * rank 0's spill of the training rows, Kryo buffers), the transport's direct buffers and threads, ND4J's
 * workspace rounding and allocator slack, and on rank 0 the mini-batch it reads. In local mode every rank
 * lives in the one driver process, so each rank's figure is the whole process's.
 *
 * @param device pipeline rank
 * @param stages indices of the (virtual) stages it runs
 * @param predictedBytes the plan's memory estimate for those stages
 * @param startBytes resident bytes of its process when its task started
 * @param peakBytes peak resident bytes of its process over the sampled steps
 */
public record StageMemoryUse(int device, List<Integer> stages, long predictedBytes, long startBytes, long peakBytes)
        implements Serializable {

    public StageMemoryUse {
        stages = List.copyOf(stages);
    }

    /** What training added to the process at its peak: peak less the resident bytes at task start. */
    public long measuredBytes() {
        return peakBytes - startBytes;
    }

    /** (predicted - measured) / measured: positive when the plan over-estimates; NaN when nothing was measured. */
    public double relativeError() {
        long measured = measuredBytes();
        return measured > 0 ? (double) (predictedBytes - measured) / measured : Double.NaN;
    }

    /**
     * One record per device of the plan that has memory samples in {@code metrics}: its start bytes from the
     * first sampled step, its peak the largest over all sampled steps. Empty without a plan or samples.
     */
    public static List<StageMemoryUse> of(PipelinePlan plan, List<StepReport> metrics) {
        if (plan == null) {
            return List.of();
        }
        int devices = plan.devices();
        long[] start = new long[devices];
        long[] peak = new long[devices];
        Arrays.fill(peak, -1);
        for (StepReport r : metrics) {
            for (RankMemory m : r.memory()) {
                if (m.rank() < 0 || m.rank() >= devices) {
                    continue;
                }
                if (peak[m.rank()] < 0) {
                    start[m.rank()] = m.startBytes();
                }
                peak[m.rank()] = Math.max(peak[m.rank()], m.peakBytes());
            }
        }
        List<StageMemoryUse> out = new ArrayList<>();
        for (int d = 0; d < devices; d++) {
            if (peak[d] < 0) {
                continue;
            }
            List<Integer> stages = new ArrayList<>();
            long predicted = 0;
            for (StagePlan s : plan.stages()) {
                if (s.device() == d) {
                    stages.add(s.index());
                    predicted += s.memory().totalBytes();
                }
            }
            out.add(new StageMemoryUse(d, stages, predicted, start[d], peak[d]));
        }
        return out;
    }

    /** The records as a table, one line per device (MiB). */
    public static String table(List<StageMemoryUse> rows) {
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%-6s %-8s %12s %12s %12s %12s %8s%n",
                "device", "stages", "predicted", "at start", "peak", "peak-start", "error"));
        for (StageMemoryUse u : rows) {
            sb.append(String.format(Locale.ROOT, "%-6d %-8s %8.1f MiB %8.1f MiB %8.1f MiB %8.1f MiB %+7.1f%%%n",
                    u.device(), u.stages().toString().replace(" ", ""), mib(u.predictedBytes()), mib(u.startBytes()),
                    mib(u.peakBytes()), mib(u.measuredBytes()), 100 * u.relativeError()));
        }
        return sb.toString();
    }

    private static double mib(long bytes) {
        return bytes / (1024.0 * 1024.0);
    }
}
