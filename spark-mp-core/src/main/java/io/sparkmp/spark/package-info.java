/**
 * Spark execution of pipeline-parallel training: driver checks, the barrier job, task body, data routing, progress.
 *
 * <p><b>Public API</b>: {@link io.sparkmp.spark.PipelineTrainer} and its {@code Builder},
 * {@link io.sparkmp.spark.TrainingResult}, {@link io.sparkmp.spark.StepReport}, {@link io.sparkmp.spark.RankMemory},
 * {@link io.sparkmp.spark.StageMemoryUse}, {@link io.sparkmp.spark.TimelineCapture},
 * {@link io.sparkmp.spark.TrainingSettings}, {@link io.sparkmp.spark.SparkMpConf} (every {@code spark.mp.*} key,
 * each a {@link io.sparkmp.spark.ConfEntry}) and {@link io.sparkmp.spark.ProfileMode}. Every other public type here
 * (e.g. {@code PipelineInference}) is {@link io.sparkmp.Internal}: public only because another spark-mp package
 * calls it; it may change without notice.
 */
package io.sparkmp.spark;
