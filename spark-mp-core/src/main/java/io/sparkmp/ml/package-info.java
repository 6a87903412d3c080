/**
 * Spark ML API (public): {@link io.sparkmp.ml.PipelineParallelEstimator} fits a DL4J model pipeline-parallel on
 * a DataFrame (a MultiLayerConfiguration, or a ComputationGraphConfiguration of one input and one output),
 * {@link io.sparkmp.ml.PipelineParallelModel} transforms DataFrames (pipelined across executors or per
 * partition) and saves/loads with Spark ML's {@code MLWritable}/{@code MLReadable}.
 */
package io.sparkmp.ml;
