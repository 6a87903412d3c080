package io.sparkmp.spark;

import io.sparkmp.plan.ModelProfile;

import java.io.Serializable;

/**
 * What the profiling job measures on an executor: the model's per-layer profile and the time its optimizer
 * step takes per parameter (the model's updater on one device, median of repeats).
 *
 * @param profile per-layer sizes and times
 * @param updateSecondsPerParameter optimizer step seconds per parameter, 0 when not measured (analytic)
 */
record MeasuredProfile(ModelProfile profile, double updateSecondsPerParameter) implements Serializable {
    private static final long serialVersionUID = 1L;

    MeasuredProfile {
        if (profile == null) {
            throw new IllegalArgumentException("profile must not be null");
        }
        if (!(updateSecondsPerParameter >= 0) || Double.isInfinite(updateSecondsPerParameter)) {
            throw new IllegalArgumentException("updateSecondsPerParameter must be finite and >= 0, found "
                    + updateSecondsPerParameter);
        }
    }
}
