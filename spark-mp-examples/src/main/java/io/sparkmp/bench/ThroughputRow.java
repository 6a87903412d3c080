package io.sparkmp.bench;

import io.sparkmp.plan.PlanAccuracy;

/**
 * One contender's measured line of {@link ThroughputBenchmark}'s table.
 *
 * @param contender what ran, e.g. {@code spark-mp 1f1b M=8 recompute=never}
 * @param pipeline whether it is a spark-mp row (ideal speed-up, bubble and plan apply)
 * @param samplesPerSecond the median throughput after warm-up (see {@code how})
 * @param stepSeconds median wall time of one optimizer step after warm-up (NaN where there is no step)
 * @param ideal the pipeline's ideal speed-up over one device, P·M/(M+P−1); NaN for other rows
 * @param bubble median measured bubble fraction after warm-up; NaN for other rows
 * @param plan the plan's predicted step time vs the measured median ({@code TrainingResult.planAccuracy()}); null
 *     for other rows
 * @param loss loss on the held-out set after the same number of training samples (one epoch)
 * @param how how the throughput was measured
 * @param failure why the contender failed, or null
 */
record ThroughputRow(String contender, boolean pipeline, double samplesPerSecond, double stepSeconds, double ideal,
                     double bubble, PlanAccuracy plan, double loss, String how, String failure) {

    static ThroughputRow failed(String contender, boolean pipeline, Throwable e) {
        String msg = e.getMessage() == null ? "" : e.getMessage().lines().findFirst().orElse("");
        msg = msg.length() > 200 ? msg.substring(0, 200) + "..." : msg;
        return new ThroughputRow(contender, pipeline, Double.NaN, Double.NaN, Double.NaN, Double.NaN, null, Double.NaN,
                "", e.getClass().getSimpleName() + ": " + msg);
    }
}
