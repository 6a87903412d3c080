package io.sparkmp.runtime;

import java.io.Serializable;

/**
 * One executed action of a sampled step, for the timeline. Times are wall-clock nanoseconds since the
 * epoch (each JVM maps {@code System.nanoTime} onto {@code currentTimeMillis} once, so ranks on one host
 * line up; across hosts as well as their clocks agree).
 *
 * @param rank the rank (device) that ran the action
 * @param step global optimizer step, 0-based
 * @param stage pipeline (virtual) stage of the action; -1 when the action belongs to no stage
 * @param kind the action's short label: an {@link io.sparkmp.schedule.ActionType#code() ActionType code}
 *     ({@code F}, {@code B}, {@code SEND_F}, {@code RECV_B}, {@code STEP}, {@code LOAD}, {@code SEND_L},
 *     {@code LOSS}, ...) or {@link #WAIT}, which the runtime adds
 * @param microBatch the micro-batch, or {@link #NO_MICRO_BATCH} when the action is not per micro-batch
 * @param startNanos start, wall-clock nanoseconds since the epoch
 * @param endNanos end, wall-clock nanoseconds since the epoch; {@code >= startNanos}
 */
public record ActionEvent(int rank, long step, int stage, String kind, int microBatch, long startNanos,
                          long endNanos) implements Serializable {

    private static final long serialVersionUID = 1L;

    /** The LOAD action: stage 0 takes one micro-batch's training rows out of the step's mini-batch. */
    public static final String LOAD = io.sparkmp.schedule.ActionType.LOAD.code();
    /** The LOSS action: the step's score on the last stage, reduced over all ranks. */
    public static final String LOSS = io.sparkmp.schedule.ActionType.LOSS.code();
    /** Time blocked in a receive: the device is idle, waiting for a neighbour. */
    public static final String WAIT = "WAIT";
    /** {@code microBatch} of an event that is not per micro-batch. */
    public static final int NO_MICRO_BATCH = -1;

    public ActionEvent {
        if (rank < 0) {
            throw new IllegalArgumentException("rank must be >= 0, found " + rank);
        }
        if (kind == null || kind.isEmpty()) {
            throw new IllegalArgumentException("kind must be a non-empty label, found " + (kind == null ? "null" : "''"));
        }
        if (microBatch < NO_MICRO_BATCH) {
            throw new IllegalArgumentException("microBatch must be >= 0 or -1, found " + microBatch);
        }
        if (endNanos < startNanos) {
            throw new IllegalArgumentException("endNanos (" + endNanos + ") must not be before startNanos ("
                    + startNanos + ") for " + kind + " on rank " + rank);
        }
    }

    /** {@code endNanos - startNanos}. */
    public long durationNanos() {
        return endNanos - startNanos;
    }
}
