package io.sparkmp.runtime;

import io.sparkmp.schedule.Action;

/**
 * An action of a pipeline stage failed. The message names the stage, rank, step and micro-batch and
 * shows the schedule grid with the failing action marked.
 */
@io.sparkmp.Internal
public final class StageExecutionException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final int rank;
    private final long step;
    private final transient Action action;

    StageExecutionException(String message, int rank, long step, Action action, Throwable cause) {
        super(message, cause);
        this.rank = rank;
        this.step = step;
        this.action = action;
    }

    /** Rank that failed. */
    public int rank() {
        return rank;
    }

    /** Optimizer step that failed. */
    public long step() {
        return step;
    }

    /** The failing action, or null when the failure was outside an action (e.g. receiving the step header). */
    public Action action() {
        return action;
    }
}
