package io.sparkmp.spark;

import io.sparkmp.transport.TensorChannel;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.Serializable;
import java.util.Map;

/** Builds a rank's {@link StageRunner}; serializable so it travels with the task closure. */
interface StageRunnerFactory extends Serializable {

    /** @param initialParamsOrNull per-layer starting parameters (all layers), or null for seeded init */
    StageRunner create(JobSpec spec, int rank, TensorChannel channel, Map<Integer, INDArray> initialParamsOrNull);
}
