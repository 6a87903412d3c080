package io.sparkmp.runtime;

import java.io.Serializable;
import java.util.Collections;
import java.util.EnumMap;
import java.util.Map;

import io.sparkmp.schedule.ActionType;

/**
 * What one rank measured in one optimizer step.
 *
 * @param step global optimizer step
 * @param rank the rank that measured it
 * @param examples examples in the mini-batch
 * @param loss DL4J's score for the mini-batch (mean per-example loss plus the L1/L2 terms of the whole
 *     model, before the update), on the rank holding the last stage; {@code NaN} on other ranks
 * @param wallNanos wall time of the whole step on this rank
 * @param waitNanos time spent blocked in receives (idle: waiting for a neighbour) and, with replicas, at an
 *     ALLREDUCE waiting for the per-layer sums that run beside the backward
 * @param nanosByAction time per action type (receives included under their type)
 * @param countByAction number of actions run per type
 * @param skipped whether the step's update was left out on every stage because a gradient was not finite
 *     ({@link NonFinitePolicy#SKIP})
 */
@io.sparkmp.Internal
public record StepMetrics(long step, int rank, int examples, double loss, long wallNanos, long waitNanos,
                          Map<ActionType, Long> nanosByAction, Map<ActionType, Integer> countByAction, boolean skipped)
        implements Serializable {

    private static final long serialVersionUID = 1L;

    public StepMetrics {
        nanosByAction = Collections.unmodifiableMap(new EnumMap<>(nanosByAction.isEmpty()
                ? new EnumMap<>(ActionType.class) : nanosByAction));
        countByAction = Collections.unmodifiableMap(new EnumMap<>(countByAction.isEmpty()
                ? new EnumMap<>(ActionType.class) : countByAction));
    }

    /** A step that applied its update. */
    public StepMetrics(long step, int rank, int examples, double loss, long wallNanos, long waitNanos,
                       Map<ActionType, Long> nanosByAction, Map<ActionType, Integer> countByAction) {
        this(step, rank, examples, loss, wallNanos, waitNanos, nanosByAction, countByAction, false);
    }

    /** The same record, marked as a step whose update every stage left out. */
    StepMetrics asSkipped() {
        return new StepMetrics(step, rank, examples, loss, wallNanos, waitNanos, nanosByAction, countByAction, true);
    }

    /** Whether this rank holds the last stage and so reports the loss. */
    public boolean hasLoss() {
        return !Double.isNaN(loss);
    }

    /** Time in compute actions (F, B, I, W, STEP). */
    public long computeNanos() {
        long t = 0;
        for (Map.Entry<ActionType, Long> e : nanosByAction.entrySet()) {
            if (e.getKey().isCompute() || e.getKey() == ActionType.STEP) {
                t += e.getValue();
            }
        }
        return t;
    }
}
