package io.sparkmp.spark;

import java.util.Locale;

/** Where the planner's layer times come from (see {@link PipelineTrainer.Builder#profile(ProfileMode)}). */
public enum ProfileMode {
    /**
     * Timed on an executor: a one-task Spark job runs {@code LayerProfiler.measure} on sample micro-batches and
     * returns the profile, which is cached per model and hardware (driver memory, and
     * {@code spark.mp.plan.profileCache} on disk when set).
     */
    MEASURED,
    /** From FLOP counts at {@code spark.mp.plan.analyticFlops}: no job, but blind to memory-bound layers. */
    ANALYTIC;

    /**
     * Parses {@code measured} or {@code analytic} (any case).
     *
     * @throws IllegalArgumentException for any other text
     */
    public static ProfileMode parse(String text) {
        for (ProfileMode m : values()) {
            if (m.name().equalsIgnoreCase(text.trim())) {
                return m;
            }
        }
        throw new IllegalArgumentException(text);
    }

    /** Lower-case name, as in the configuration. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
