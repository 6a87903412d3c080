package io.sparkmp.spark;

import io.sparkmp.plan.LayerProfile;
import io.sparkmp.plan.ModelProfile;
import io.sparkmp.plan.PipelinePlanner;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;

import java.util.ArrayList;
import java.util.List;

/**
 * The planning options of a {@link PipelineTrainer} that are not {@code spark.mp.*} settings: a manual split
 * (by layer indices or names), the profile mode and the model's input type. Immutable once built; any of them
 * may be null (not given).
 */
record PlanChoices(int[] boundaries, String[] boundaryNames, ProfileMode profileMode, InputType inputType) {

    static final PlanChoices NONE = new PlanChoices(null, null, null, null);

    PlanChoices {
        boundaries = boundaries == null ? null : boundaries.clone();
        boundaryNames = boundaryNames == null ? null : boundaryNames.clone();
    }

    @Override
    public int[] boundaries() {
        return boundaries == null ? null : boundaries.clone();
    }

    @Override
    public String[] boundaryNames() {
        return boundaryNames == null ? null : boundaryNames.clone();
    }

    boolean manualSplit() {
        return boundaries != null || boundaryNames != null;
    }

    /**
     * Checks a manual split against the model before anything runs, with the planner's own messages (e.g.
     * "boundaries [0, 2, 2, 5]: must be strictly increasing ..."), using the layer names the profiler gives.
     *
     * @param stages the fixed stage count, or null
     * @param stagesPerDevice the fixed virtual stages per device, or null
     * @throws IllegalArgumentException naming the bad value
     */
    void check(MultiLayerConfiguration conf, Integer stages, Integer stagesPerDevice) {
        if (!manualSplit()) {
            return;
        }
        List<LayerProfile> layers = new ArrayList<>();
        for (String name : io.sparkmp.model.LayerProfiler.layerNames(conf)) {
            layers.add(new LayerProfile(name, "", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
        }
        PipelinePlanner.Builder b = PipelinePlanner.builder().profile(ModelProfile.of(layers, 0))
                .executors(layers.size()).deviceMemoryBytes(Long.MAX_VALUE).bandwidthBytesPerSecond(1).batchSize(1);
        apply(b);
        if (stages != null && stages <= layers.size()) {
            b.stages(stages);
        }
        if (stagesPerDevice != null) {
            b.stagesPerDevice(stagesPerDevice);
        }
        b.build();
    }

    /** Puts the manual split, if any, on a planner builder. */
    void apply(PipelinePlanner.Builder b) {
        if (boundaries != null) {
            b.boundaries(boundaries);
        }
        if (boundaryNames != null) {
            b.boundaryNames(boundaryNames);
        }
    }

}
