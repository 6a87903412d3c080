package io.sparkmp.spark;

import java.io.Serializable;

/**
 * What one rank measured in one optimizer step; the driver merges the P records of a step into a
 * {@link StepReport}.
 *
 * @param rank the device (task) index
 * @param attempt Spark stage attempt of the task (records of failed attempts are ignored)
 * @param epoch epoch (0-based)
 * @param step global optimizer step (0-based)
 * @param loss mini-batch loss, or NaN on ranks that do not hold the last stage
 * @param examples examples in the mini-batch
 * @param wallNanos wall time of the step on this rank
 * @param busyNanos time this rank spent computing (not waiting) in the step, or -1 if unknown
 * @param startBytes resident bytes of the rank's process when its task started, or -1 if unknown
 * @param peakBytes peak resident bytes of the rank's process during the step (the first step's window opens
 *     at task start), or -1 when the step was not sampled ({@link PeakMemorySampler})
 */
record RankStep(int rank, int attempt, int epoch, long step, double loss, int examples, long wallNanos,
                long busyNanos, long startBytes, long peakBytes) implements Serializable {

    /** A record without memory figures. */
    RankStep(int rank, int attempt, int epoch, long step, double loss, int examples, long wallNanos, long busyNanos) {
        this(rank, attempt, epoch, step, loss, examples, wallNanos, busyNanos, -1, -1);
    }
}
