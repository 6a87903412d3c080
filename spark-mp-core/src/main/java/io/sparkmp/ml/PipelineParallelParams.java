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


    default Param<String> featuresCol() {
        return ParamDecls.of(this).featuresCol;
    }

    default Param<String> labelCol() {
        return ParamDecls.of(this).labelCol;
    }

    default Param<String> predictionCol() {
        return ParamDecls.of(this).predictionCol;
    }

    default Param<String> probabilityCol() {
        return ParamDecls.of(this).probabilityCol;
    }

    default Param<String> modelConfiguration() {
        return ParamDecls.of(this).modelConfiguration;
    }

    default IntParam numClasses() {
        return ParamDecls.of(this).numClasses;
    }

    default IntParam stages() {
        return ParamDecls.of(this).stages;
    }

    default IntParam microBatches() {
        return ParamDecls.of(this).microBatches;
    }

    default Param<String> schedule() {
        return ParamDecls.of(this).schedule;
    }

    default IntParam stagesPerDevice() {
        return ParamDecls.of(this).stagesPerDevice;
    }

    /** Data-parallel replicas R (unset: {@code spark.mp.replicas}). */
    default IntParam replicas() {
        return ParamDecls.of(this).replicas;
    }

    default IntParam batchSize() {
        return ParamDecls.of(this).batchSize;
    }

    default IntParam epochs() {
        return ParamDecls.of(this).epochs;
    }

    default LongParam seed() {
        return ParamDecls.of(this).seed;
    }

    default BooleanParam shuffle() {
        return ParamDecls.of(this).shuffle;
    }

    default Param<String> checkpointDir() {
        return ParamDecls.of(this).checkpointDir;
    }

    default IntParam checkpointEvery() {
        return ParamDecls.of(this).checkpointEvery;
    }

    default Param<String> transformMode() {
        return ParamDecls.of(this).transformMode;
    }

    default IntParam transformBatchSize() {
        return ParamDecls.of(this).transformBatchSize;
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
