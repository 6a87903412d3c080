package io.sparkmp.plan;

import io.sparkmp.schedule.HostSharing;
import io.sparkmp.schedule.ScheduleKind;

import java.io.Serializable;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The planner's decision: where to cut the model, how to schedule it and what that is predicted to cost.
 * Immutable; made by {@link PipelinePlanner}.
 *
 * @param boundaries stage boundaries, length {@code P * v + 1}, from 0 to the layer count; virtual stage
 *     {@code s} holds layers {@code [boundaries[s], boundaries[s+1])} and runs on device {@code s % P}
 * @param schedule the pipeline schedule
 * @param devices pipeline ranks per replica, P
 * @param stagesPerDevice virtual stages per device, v (1 unless interleaved)
 * @param microBatches micro-batches per mini-batch per replica, M
 * @param replicas data-parallel replicas of the whole pipeline, R (P * R executors in all)
 * @param batchSize global mini-batch per optimizer step (all replicas)
 * @param microBatchSize examples per micro-batch: batchSize / (R * M)
 * @param stages per-stage layers, memory and time
 * @param pipelineSeconds predicted time of one replica's pipeline for one mini-batch
 * @param allreduceSeconds predicted time the gradient all-reduce across replicas adds to the pipeline: the part of
 *     its per-layer sums that the remaining backward does not hide (0 when R = 1)
 * @param predictedStepSeconds pipelineSeconds + allreduceSeconds
 * @param bubbleFraction idle fraction of the devices during the pipeline
 * @param stepTimeMethod how pipelineSeconds was obtained (closed form or simulated schedule)
 * @param timeSource where the layer times came from
 * @param budgetBytes memory budget per device
 * @param bandwidthBytesPerSecond link bandwidth assumed between stages and replicas
 * @param candidatesConsidered (stages, replicas, micro-batches, schedule) combinations the planner considered
 * @param partitionsSolved combinations for which it ran the partitioner (the rest were pruned by a bound)
 * @param runtimeCosts the measured message, LOAD and per-step costs the simulated step time includes
 *     ({@link RuntimeCosts#NONE} when not measured)
 * @param replicasReason why the plan has R replicas: given, limited (e.g. BatchNormalization), no divisor of the
 *     batch, or chosen by predicted step against the other R values (printed by {@link #explain()})
 * @param hostSharing which of the plan's devices share a host and how much they slow each other down while they
 *     compute at once ({@link HostSharing#NONE} when not measured or one task per host): the simulated step
 *     charges it
 */
public record PipelinePlan(int[] boundaries, ScheduleKind schedule, int devices, int stagesPerDevice,
                           int microBatches, int replicas, int batchSize, int microBatchSize, List<StagePlan> stages,
                           double pipelineSeconds, double allreduceSeconds, double predictedStepSeconds,
                           double bubbleFraction, String stepTimeMethod, ModelProfile.TimeSource timeSource,
                           long budgetBytes, double bandwidthBytesPerSecond, int candidatesConsidered,
                           int partitionsSolved, RuntimeCosts runtimeCosts, String replicasReason,
                           HostSharing hostSharing)
        implements Serializable {

    private static final long serialVersionUID = 1L;

    public PipelinePlan {
        boundaries = boundaries.clone();
        runtimeCosts = runtimeCosts == null ? RuntimeCosts.NONE : runtimeCosts;
        replicasReason = replicasReason == null ? "" : replicasReason;
        hostSharing = hostSharing == null ? HostSharing.NONE : hostSharing;
        stages = List.copyOf(stages);
        if (boundaries.length != devices * stagesPerDevice + 1 || stages.size() != devices * stagesPerDevice) {
            throw new IllegalArgumentException("a plan of " + devices + " devices x " + stagesPerDevice
                    + " stages needs " + (devices * stagesPerDevice + 1) + " boundaries and as many stages, found "
                    + boundaries.length + " and " + stages.size());
        }
    }

    /** A copy of the boundaries. */
    @Override
    public int[] boundaries() {
        return boundaries.clone();
    }

    /** Number of (virtual) stages, P * v. */
    public int numStages() {
        return stages.size();
    }

    /** Executors used: P * R. */
    public int executors() {
        return devices * replicas;
    }

    /** Predicted samples per second: batchSize / predictedStepSeconds. */
    public double throughput() {
        return predictedStepSeconds > 0 ? batchSize / predictedStepSeconds : Double.POSITIVE_INFINITY;
    }

    /** This plan with its pipeline time and bubble replaced (the simulated ones). */
    PipelinePlan withPipeline(double pipeline, double bubble, String method) {
        return new PipelinePlan(boundaries, schedule, devices, stagesPerDevice, microBatches, replicas, batchSize,
                microBatchSize, stages, pipeline, allreduceSeconds, pipeline + allreduceSeconds, bubble, method, timeSource,
                budgetBytes, bandwidthBytesPerSecond, candidatesConsidered, partitionsSolved, runtimeCosts,
                replicasReason, hostSharing);
    }

    /**
     * This plan with a simulated step that includes the replicas' all-reduce actions: the predicted step is
     * {@code step}, the pipeline time {@code pipelineAlone} (the same schedule simulated without them), the
     * all-reduce time what the step adds to it.
     */
    PipelinePlan withSimulatedStep(double step, double pipelineAlone, double bubble, String method) {
        double pipeline = Math.min(step, pipelineAlone);
        return new PipelinePlan(boundaries, schedule, devices, stagesPerDevice, microBatches, replicas, batchSize,
                microBatchSize, stages, pipeline, step - pipeline, step, bubble, method, timeSource,
                budgetBytes, bandwidthBytesPerSecond, candidatesConsidered, partitionsSolved, runtimeCosts,
                replicasReason, hostSharing);
    }

    /** Stage {@code s}. */
    public StagePlan stage(int s) {
        return stages.get(s);
    }

    /** Layers of the model. */
    public int layerCount() {
        return boundaries[boundaries.length - 1];
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PipelinePlan p && Arrays.equals(boundaries, p.boundaries) && schedule == p.schedule
                && devices == p.devices && stagesPerDevice == p.stagesPerDevice && microBatches == p.microBatches
                && replicas == p.replicas && batchSize == p.batchSize && microBatchSize == p.microBatchSize
                && stages.equals(p.stages) && Double.compare(pipelineSeconds, p.pipelineSeconds) == 0
                && Double.compare(allreduceSeconds, p.allreduceSeconds) == 0
                && Double.compare(predictedStepSeconds, p.predictedStepSeconds) == 0
                && Double.compare(bubbleFraction, p.bubbleFraction) == 0 && stepTimeMethod.equals(p.stepTimeMethod)
                && timeSource == p.timeSource && budgetBytes == p.budgetBytes
                && Double.compare(bandwidthBytesPerSecond, p.bandwidthBytesPerSecond) == 0
                && candidatesConsidered == p.candidatesConsidered && partitionsSolved == p.partitionsSolved
                && runtimeCosts.equals(p.runtimeCosts) && replicasReason.equals(p.replicasReason)
                && hostSharing.equals(p.hostSharing);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(boundaries) + stages.hashCode();
    }

    @Override
    public String toString() {
        return "PipelinePlan[" + schedule.label() + ", P=" + devices + ", v=" + stagesPerDevice + ", M=" + microBatches
                + ", R=" + replicas + ", boundaries=" + Arrays.toString(boundaries) + ", step="
                + fmt("%.6f", predictedStepSeconds) + " s]";
    }

    /**
     * A fixed-width table of the plan: a summary, one row per stage (layers, parameters, memory against the
     * budget, times and bytes sent per micro-batch) and the totals. Printed by the trainer before launch and
     * by a dry run.
     */
    public String explain() {
        StringBuilder sb = new StringBuilder();
        sb.append(fmt("Pipeline plan: %d layers -> %d stage%s on %d device%s (v=%d) x %d replica%s = %d executors%n",
                layerCount(), numStages(), numStages() == 1 ? "" : "s", devices, devices == 1 ? "" : "s",
                stagesPerDevice, replicas, replicas == 1 ? "" : "s", executors()));
        sb.append(fmt("schedule %s, batch %d = %d replica%s x %d micro-batch%s x %d example%s%n", schedule.label(),
                batchSize, replicas, replicas == 1 ? "" : "s", microBatches, microBatches == 1 ? "" : "es",
                microBatchSize, microBatchSize == 1 ? "" : "s"));
        if (!replicasReason.isEmpty()) {
            sb.append("replicas: ").append(replicasReason).append('\n');
        }
        sb.append(fmt("budget %s per device, link %.3g GB/s, layer times %s%n", bytes(budgetBytes),
                bandwidthBytesPerSecond / 1e9, timeSource.name().toLowerCase(Locale.ROOT)));
        String head = fmt("%5s %4s %-11s %-24s %12s %10s %10s %5s %4s %-6s %9s %9s %9s %9s %10s%n", "stage", "dev",
                "layers", "names", "params", "memory", "budget", "use%", "inFl", "acts", "fwd ms", "bwd ms", "send ms",
                "total ms", "sent/mb");
        sb.append(head);
        sb.append("-".repeat(head.length() - 1)).append('\n');
        for (StagePlan s : stages) {
            sb.append(fmt("%5d %4d %-11s %-24s %12d %10s %10s %5.1f %4d %-6s %9.3f %9.3f %9.3f %9.3f %10s%n", s.index(),
                    s.device(), s.firstLayer() + ".." + (s.endLayer() - 1), names(s.layerNames()), s.parameters(),
                    bytes(s.memory().totalBytes()), bytes(s.memory().budgetBytes()),
                    100 * s.memory().budgetFraction(), s.memory().inFlight(), s.recompute() ? "recomp" : "stash",
                    1e3 * s.forwardSeconds(),
                    1e3 * s.backwardSeconds(), 1e3 * s.sendSeconds(), 1e3 * s.timeSeconds(),
                    bytes(s.bytesSentForward())));
        }
        sb.append("-".repeat(head.length() - 1)).append('\n');
        for (StagePlan s : stages) {
            if (!s.sentTensors().isEmpty()) {
                sb.append(fmt("cut %d|%d (before layer %d) carries %d tensor%s, %s per micro-batch: %s%n", s.index(),
                        s.index() + 1, s.endLayer(), s.sentTensors().size(), s.sentTensors().size() == 1 ? "" : "s",
                        bytes(s.bytesSentForward()), String.join(", ", s.sentTensors())));
            }
        }
        sb.append(fmt("predicted step %.3f ms (pipeline %.3f ms + all-reduce %.3f ms, %s), bubble %.1f%%, "
                        + "throughput %.1f samples/s%n", 1e3 * predictedStepSeconds, 1e3 * pipelineSeconds,
                1e3 * allreduceSeconds, stepTimeMethod, 100 * bubbleFraction, throughput()));
        if (runtimeCosts.measured()) {
            sb.append("runtime costs (measured): ").append(runtimeCosts).append('\n');
        }
        if (hostSharing.slows()) {
            sb.append("host sharing: ").append(hostSharing).append('\n');
        }
        sb.append(fmt("planner: %d candidate (P, R, M, schedule) combinations, %d partitioned, rest pruned by bound%n",
                candidatesConsidered, partitionsSolved));
        return sb.toString();
    }

    private static String names(List<String> names) {
        String s = names.size() <= 2 ? String.join(",", names)
                : names.get(0) + ".." + names.get(names.size() - 1);
        return s.length() <= 24 ? s : s.substring(0, 21) + "...";
    }

    /** Bytes in binary units with one decimal, e.g. {@code 1.5 GiB}. */
    static String bytes(long b) {
        if (b < 1024) {
            return b + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB", "PiB"};
        double v = b;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return fmt("%.1f %s", v, units[u]);
    }

    private static String fmt(String f, Object... args) {
        return String.format(Locale.ROOT, f, args);
    }

    /** Per (virtual) stage, whether it recomputes forwards ({@link StagePlan#recompute()}), for the runtime. */
    public boolean[] recomputePerStage() {
        boolean[] out = new boolean[stages.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = stages.get(i).recompute();
        }
        return out;
    }
}
