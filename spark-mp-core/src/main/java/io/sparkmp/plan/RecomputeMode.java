package io.sparkmp.plan;

import java.util.Locale;

/**
 * Whether pipeline stages keep the activations of their micro-batches in flight (the stash) or re-run each
 * micro-batch's forward before its backward (recomputation: less memory, one more forward per micro-batch on
 * every stage but the last).
 */
public enum RecomputeMode {
    /** The planner decides per stage: the stash where it fits the stage's budget, recomputation elsewhere. */
    AUTO,
    /** Every stage recomputes. */
    ALWAYS,
    /** No stage recomputes; a plan whose stash does not fit is rejected. */
    NEVER;

    /** The lower-case name used in settings. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * Parses {@code auto}, {@code always} or {@code never} (any case).
     *
     * @throws IllegalArgumentException naming the value and the choices
     */
    public static RecomputeMode parse(String text) {
        if (text != null) {
            for (RecomputeMode m : values()) {
                if (m.label().equals(text.trim().toLowerCase(Locale.ROOT))) {
                    return m;
                }
            }
        }
        throw new IllegalArgumentException("recompute must be one of auto, always, never, found `" + text + "`");
    }
}
