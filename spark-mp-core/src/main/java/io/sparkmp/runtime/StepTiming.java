package io.sparkmp.runtime;

import java.util.Arrays;
import java.util.EnumMap;
import java.util.Map;

import io.sparkmp.schedule.Action;
import io.sparkmp.schedule.ActionType;

/**
 * The clock of one rank's steps: time and count per action type, time blocked in receives, and, for steps
 * its recorder samples, one timeline event per action and wait. Counters are plain arrays reset per step;
 * an unsampled step costs one branch per action beyond the counters.
 */
final class StepTiming {

    private static final ActionType[] TYPES = ActionType.values();

    private final ActionRecorder recorderOrNull;
    private final long[] nanos = new long[TYPES.length];
    private final int[] counts = new int[TYPES.length];
    private long step;
    private boolean sampled;
    private long waitNanos;

    /** @param recorderOrNull where sampled steps' events go; null: no timeline */
    StepTiming(ActionRecorder recorderOrNull) {
        this.recorderOrNull = recorderOrNull;
    }

    /** Starts the counters of {@code step}. */
    void begin(long step) {
        this.step = step;
        Arrays.fill(nanos, 0);
        Arrays.fill(counts, 0);
        waitNanos = 0;
        sampled = recorderOrNull != null && recorderOrNull.sampled(step);
    }

    /** Whether this step's events are recorded. */
    boolean sampled() {
        return sampled;
    }

    /** Action {@code a} ran from {@code startNano} to {@code endNano} ({@code System.nanoTime()}). */
    void action(Action a, long startNano, long endNano) {
        int i = a.type().ordinal();
        nanos[i] += endNano - startNano;
        counts[i]++;
        if (sampled) {
            recorderOrNull.record(step, a.stage(), a.type().code(), a.microBatch(), startNano, endNano);
        }
    }

    /**
     * The rank was blocked in a receive for {@code stage}'s micro-batch {@code mb}, or (mb -1) waiting at the
     * stage's ALLREDUCE for the replicas' per-layer sums.
     */
    void waited(int stage, int mb, long startNano, long endNano) {
        waitNanos += endNano - startNano;
        if (sampled) {
            recorderOrNull.record(step, stage, ActionEvent.WAIT, mb, startNano, endNano);
        }
    }

    /** What the step measured; action types that did not run are absent from the maps. */
    StepMetrics metrics(int rank, int examples, double loss, long wallNanos) {
        Map<ActionType, Long> byType = new EnumMap<>(ActionType.class);
        Map<ActionType, Integer> countByType = new EnumMap<>(ActionType.class);
        for (int i = 0; i < TYPES.length; i++) {
            if (counts[i] > 0) {
                byType.put(TYPES[i], nanos[i]);
                countByType.put(TYPES[i], counts[i]);
            }
        }
        return new StepMetrics(step, rank, examples, loss, wallNanos, waitNanos, byType, countByType);
    }
}
