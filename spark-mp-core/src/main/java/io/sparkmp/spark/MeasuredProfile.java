package io.sparkmp.spark;

import io.sparkmp.plan.ModelProfile;
import io.sparkmp.plan.RuntimeCosts;

import java.io.Serializable;

/**
 * What the profiling job measures on an executor: the model's per-layer profile and the time its optimizer
 * step takes per parameter (the model's updater on one device, median of repeats), and the runtime's
 * message, LOAD and per-step costs.
 *
 * @param profile per-layer sizes and times
 * @param updateSecondsPerParameter optimizer step seconds per parameter, 0 when not measured (analytic)
 * @param runtimeCosts the runtime's fixed costs, {@link RuntimeCosts#NONE} when not measured (analytic)
 */
record MeasuredProfile(ModelProfile profile, double updateSecondsPerParameter, RuntimeCosts runtimeCosts)
        implements Serializable {
    private static final long serialVersionUID = 1L;

    MeasuredProfile {
        if (runtimeCosts == null) {
            throw new IllegalArgumentException("runtimeCosts must not be null");
        }
        if (profile == null) {
            throw new IllegalArgumentException("profile must not be null");
        }
        if (!(updateSecondsPerParameter >= 0) || Double.isInfinite(updateSecondsPerParameter)) {
            throw new IllegalArgumentException("updateSecondsPerParameter must be finite and >= 0, found "
                    + updateSecondsPerParameter);
        }
    }
}
