package io.sparkmp.plan;

import java.util.ArrayList;
import java.util.List;

/** Hand-written profiles shared by the plan tests. */
final class PlanFixtures {

    static final long MIB = 1L << 20;
    static final long GIB = 1L << 30;

    private PlanFixtures() {
    }

    /**
     * A layer with only per-example times and the given memory figures; parameters = paramBytes / 4 (FLOAT),
     * gradients = paramBytes, updater = 2 x paramBytes (Adam).
     */
    static LayerProfile layer(String name, double fwdPerExample, double bwdPerExample, long paramBytes,
                              long outBytes, long keptBytes, long workingBytes) {
        return new LayerProfile(name, "Dense", paramBytes / 4, paramBytes, paramBytes, 2 * paramBytes, outBytes,
                keptBytes, workingBytes, 0, 0, fwdPerExample, 0, bwdPerExample);
    }

    /** A layer of compute time t per example (forward t/3, backward 2t/3), tiny memory. */
    static LayerProfile timed(String name, double t) {
        return layer(name, t / 3, 2 * t / 3, 4096, 64, 64, 64);
    }

    /** A profile of layers with the given per-example times (forward + backward), tiny memory. */
    static ModelProfile times(double... t) {
        List<LayerProfile> l = new ArrayList<>();
        for (int i = 0; i < t.length; i++) {
            l.add(timed("l" + i, t[i]));
        }
        return ModelProfile.of(l, 64);
    }

    /** n identical layers. */
    static ModelProfile uniform(int n, double t) {
        double[] a = new double[n];
        java.util.Arrays.fill(a, t);
        return times(a);
    }
}
