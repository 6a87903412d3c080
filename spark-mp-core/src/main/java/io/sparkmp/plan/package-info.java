/**
 * Pipeline planning: per-layer cost and memory profiles, the per-stage memory model, the partitioner
 * (a dynamic program over contiguous stage boundaries) and the resulting {@link io.sparkmp.plan.PipelinePlan}.
 * Pure: no Spark, no ND4J, no I/O; profiles come in as plain numbers.
 */
package io.sparkmp.plan;
