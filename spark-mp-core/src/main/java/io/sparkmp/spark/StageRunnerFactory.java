package io.sparkmp.spark;

import io.sparkmp.transport.TensorChannel;

import java.io.Serializable;

/** Builds a rank's {@link StageRunner}; serializable so it travels with the task closure. */
interface StageRunnerFactory extends Serializable {

    /** This rank's stages, with the deterministic initialisation from the spec's seed. */
    StageRunner create(JobSpec spec, int rank, TensorChannel channel);
}
