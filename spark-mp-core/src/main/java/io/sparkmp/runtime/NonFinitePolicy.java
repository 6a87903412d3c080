package io.sparkmp.runtime;

import java.util.Locale;

/**
 * What a step whose gradient holds a NaN or an infinity does ({@code spark.mp.nonFinite}).
 *
 * <p>{@link #SKIP} is a collective decision: after the step's last backward every rank tells every other
 * whether one of its stages has a non-finite gradient, and when any has, no stage applies the step's update.
 * The skipped step then leaves no trace in the model: parameters, updater state (Adam's moments) and DL4J's
 * iteration count stay as they were, so the next mini-batch trains exactly as it would in a run without the
 * skipped one (same iteration count for bias correction and learning-rate schedules, same dropout masks).
 */
public enum NonFinitePolicy {
    /** Training stops with an error naming the step, the stage and the first layer (the default). */
    FAIL,
    /** The step's update is left out on every stage; training continues with the next mini-batch. */
    SKIP;

    /** The lower-case name used in settings. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * Parses {@code fail} or {@code skip} (any case).
     *
     * @throws IllegalArgumentException naming the value and the choices
     */
    public static NonFinitePolicy parse(String text) {
        if (text != null) {
            for (NonFinitePolicy p : values()) {
                if (p.label().equals(text.trim().toLowerCase(Locale.ROOT))) {
                    return p;
                }
            }
        }
        throw new IllegalArgumentException("nonFinite must be fail or skip, found `" + text + "`");
    }
}
