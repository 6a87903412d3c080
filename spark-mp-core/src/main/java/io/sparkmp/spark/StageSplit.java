package io.sparkmp.spark;

import io.sparkmp.model.LayerProfiler;
import io.sparkmp.plan.ModelProfile;
import io.sparkmp.plan.PipelinePlan;
import io.sparkmp.plan.PipelinePlanner;
import io.sparkmp.schedule.ScheduleKind;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BaseOutputLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where the stages are cut. For models whose input type is known from the first layer (dense or output
 * layer with nIn), the planner balances the stages' analytic compute and wire time and, when
 * {@code spark.mp.device.memory} is set, checks that each stage fits; otherwise the layers are split
 * evenly by count.
 */
final class StageSplit {
    private static final Logger LOG = LoggerFactory.getLogger(StageSplit.class);
    /** Only the ratio between layers matters for balancing; the absolute rate does not change the split. */
    private static final double NOMINAL_FLOPS = 1e10;
    private static final double NOMINAL_BANDWIDTH = 1e9;

    private StageSplit() {
    }

    /**
     * @param deviceMemoryBytes memory per device, 0 when not checked
     * @throws IllegalArgumentException when device memory is given and no split of the model fits it
     */
    static int[] boundaries(MultiLayerConfiguration conf, int stages, int stagesPerDevice, int microBatches,
                            ScheduleKind schedule, int batchSize, long deviceMemoryBytes) {
        int layers = conf.getConfs().size();
        InputType input = feedForwardInput(conf);
        if (input == null) {
            LOG.info("spark-mp: input type of the first layer unknown; splitting {} layers evenly", layers);
            return even(layers, stages * stagesPerDevice);
        }
        ModelProfile profile;
        try {
            profile = LayerProfiler.builder().build().analytic(conf, input, NOMINAL_FLOPS);
        } catch (RuntimeException e) {
            LOG.info("spark-mp: cannot profile the model ({}); splitting {} layers evenly", e.getMessage(), layers);
            return even(layers, stages * stagesPerDevice);
        }
        PipelinePlan plan;
        try {
            plan = PipelinePlanner.builder().profile(profile).executors(stages)
                    .deviceMemoryBytes(deviceMemoryBytes > 0 ? deviceMemoryBytes : Long.MAX_VALUE / 4)
                    .bandwidthBytesPerSecond(NOMINAL_BANDWIDTH).batchSize(batchSize).stages(stages)
                    .stagesPerDevice(stagesPerDevice).microBatches(microBatches).schedule(schedule).replicas(1)
                    .build().plan();
        } catch (RuntimeException e) {
            if (deviceMemoryBytes > 0) {
                throw new IllegalArgumentException("no split of the model into " + stages + " stages fits "
                        + "`spark.mp.device.memory` (" + deviceMemoryBytes + " bytes): " + e.getMessage(), e);
            }
            LOG.info("spark-mp: planner failed ({}); splitting {} layers evenly", e.getMessage(), layers);
            return even(layers, stages * stagesPerDevice);
        }
        LOG.info("spark-mp: stage plan\n{}", plan.explain());
        return plan.boundaries();
    }

    /** Layer index where each of {@code stages} stages starts, then the layer count: an even split by layers. */
    static int[] even(int layers, int stages) {
        int[] b = new int[stages + 1];
        for (int s = 0; s <= stages; s++) {
            b[s] = (int) ((long) s * layers / stages);
        }
        return b;
    }

    private static InputType feedForwardInput(MultiLayerConfiguration conf) {
        Layer first = conf.getConf(0).getLayer();
        if (conf.getInputPreProcess(0) == null && (first instanceof DenseLayer || first instanceof BaseOutputLayer)) {
            long nIn = ((org.deeplearning4j.nn.conf.layers.FeedForwardLayer) first).getNIn();
            return nIn > 0 ? InputType.feedForward(nIn) : null;
        }
        return null;
    }
}
