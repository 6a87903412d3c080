/**
 * Pipeline planning: per-layer cost and memory profiles, the per-stage memory model, the partitioner
 * (a dynamic program over contiguous stage boundaries) and the resulting {@link io.sparkmp.plan.PipelinePlan}.
 * Pure: no Spark, no ND4J, no I/O; profiles come in as plain numbers.
 *
 * <p><b>Public API</b>: {@link io.sparkmp.plan.PipelinePlan} (with {@code explain()}), its
 * {@link io.sparkmp.plan.StagePlan}/{@link io.sparkmp.plan.StageMemory}, {@link io.sparkmp.plan.PlanAccuracy},
 * {@link io.sparkmp.plan.RecomputeMode}, {@link io.sparkmp.plan.InfeasiblePlanException}, and the inputs a plan
 * records ({@link io.sparkmp.plan.ModelProfile}, {@link io.sparkmp.plan.LayerProfile},
 * {@link io.sparkmp.plan.RuntimeCosts}). The planner itself and the rest are {@link io.sparkmp.Internal}.
 */
package io.sparkmp.plan;
