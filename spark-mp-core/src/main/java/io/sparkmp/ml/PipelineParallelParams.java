package io.sparkmp.ml;

import org.apache.spark.ml.param.BooleanParam;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.LongParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.Params;

/**
 * The Params shared by {@link PipelineParallelEstimator} and {@link PipelineParallelModel} (Spark ML finds them
 * by their public no-argument accessors), with typed getters. Setters are on the two classes.
 */
public interface PipelineParallelParams extends Params {

    /** The declarations of this instance (one per owner, so each Param's parent is this instance's uid). */
    ParamDecls decls();

    default Param<String> featuresCol() {
        return decls().featuresCol;
    }

    default Param<String> labelCol() {
        return decls().labelCol;
    }

    default Param<String> predictionCol() {
        return decls().predictionCol;
    }

    default Param<String> probabilityCol() {
        return decls().probabilityCol;
    }

    default Param<String> modelConfiguration() {
        return decls().modelConfiguration;
    }

    default IntParam numClasses() {
        return decls().numClasses;
    }

    default IntParam stages() {
        return decls().stages;
    }

    default IntParam microBatches() {
        return decls().microBatches;
    }

    default Param<String> schedule() {
        return decls().schedule;
    }

    default IntParam stagesPerDevice() {
        return decls().stagesPerDevice;
    }

    default IntParam batchSize() {
        return decls().batchSize;
    }

    default IntParam epochs() {
        return decls().epochs;
    }

    default LongParam seed() {
        return decls().seed;
    }

    default BooleanParam shuffle() {
        return decls().shuffle;
    }

    default Param<String> checkpointDir() {
        return decls().checkpointDir;
    }

    default IntParam checkpointEvery() {
        return decls().checkpointEvery;
    }

    default Param<String> transformMode() {
        return decls().transformMode;
    }

    default IntParam transformBatchSize() {
        return decls().transformBatchSize;
    }

    default String getFeaturesCol() {
        return getOrDefault(featuresCol());
    }

    default String getLabelCol() {
        return getOrDefault(labelCol());
    }

    default String getPredictionCol() {
        return getOrDefault(predictionCol());
    }

    default String getProbabilityCol() {
        return getOrDefault(probabilityCol());
    }

    default String getModelConfiguration() {
        return getOrDefault(modelConfiguration());
    }

    default int getNumClasses() {
        return (Integer) getOrDefault(numClasses());
    }

    default int getBatchSize() {
        return (Integer) getOrDefault(batchSize());
    }

    default int getEpochs() {
        return (Integer) getOrDefault(epochs());
    }

    default long getSeed() {
        return (Long) getOrDefault(seed());
    }

    default boolean getShuffle() {
        return (Boolean) getOrDefault(shuffle());
    }

    default String getCheckpointDir() {
        return getOrDefault(checkpointDir());
    }

    default int getCheckpointEvery() {
        return (Integer) getOrDefault(checkpointEvery());
    }

    default String getTransformMode() {
        return getOrDefault(transformMode());
    }

    default int getTransformBatchSize() {
        return (Integer) getOrDefault(transformBatchSize());
    }
}
