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
 * @param skipped whether every stage left the step's update out (non-finite gradient, {@code spark.mp.nonFinite=skip})
 * @param endStep the global step at which this run of training ends (epochs x mini-batches per epoch), or -1 if
 *     unknown: the driver's progress line says "step i of N" and the time left from it
 */
record RankStep(int rank, int attempt, int epoch, long step, double loss, int examples, long wallNanos,
                long busyNanos, long startBytes, long peakBytes, boolean skipped, long endStep) implements Serializable {

    /** A record without the run's end step. */
    RankStep(int rank, int attempt, int epoch, long step, double loss, int examples, long wallNanos, long busyNanos,
             long startBytes, long peakBytes, boolean skipped) {
        this(rank, attempt, epoch, step, loss, examples, wallNanos, busyNanos, startBytes, peakBytes, skipped, -1);
    }

    /** A record of a step that applied its update. */
    RankStep(int rank, int attempt, int epoch, long step, double loss, int examples, long wallNanos, long busyNanos,
             long startBytes, long peakBytes) {
        this(rank, attempt, epoch, step, loss, examples, wallNanos, busyNanos, startBytes, peakBytes, false);
    }

    /** A record without memory figures. */
    RankStep(int rank, int attempt, int epoch, long step, double loss, int examples, long wallNanos, long busyNanos) {
        this(rank, attempt, epoch, step, loss, examples, wallNanos, busyNanos, -1, -1, false);
    }

    /**
     * Not a step: rank {@code rank} arrived at barrier call {@code call} ({@link BarrierSync}); travels with the
     * step records so the driver can name the ranks that did not arrive.
     */
    static RankStep arrival(int rank, int attempt, int call) {
        return new RankStep(rank, attempt, 0, -1L - call, Double.NaN, 0, 0, -1);
    }

    /** Whether this record is an arrival at a barrier call rather than a step. */
    boolean isArrival() {
        return step < 0;
    }

    /** The barrier call of an arrival record. */
    int arrivalCall() {
        return (int) (-1L - step);
    }
}
