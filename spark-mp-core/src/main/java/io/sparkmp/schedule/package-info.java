/**
 * Pipeline schedules as data: generate (GPipe, 1F1B, interleaved 1F1B), add communication, validate,
 * render and simulate per-device action lists.
 *
 * <p>Entry points: {@link io.sparkmp.schedule.Schedules#generate}, {@link io.sparkmp.schedule.Communication#add},
 * {@link io.sparkmp.schedule.ScheduleValidator#validate}, {@link io.sparkmp.schedule.ScheduleGrid#render},
 * {@link io.sparkmp.schedule.ScheduleSimulator#simulate}; the rules between counts, once, in
 * {@link io.sparkmp.schedule.PipelineRules}. Pure: no Spark, no ND4J, no I/O.
 *
 * <p><b>Public API</b> for users: {@link io.sparkmp.schedule.ScheduleKind} and {@link io.sparkmp.schedule.ActionType}
 * (the kinds of timeline events). The rest is {@link io.sparkmp.Internal} (the runtime, planner and tests use it).
 */
package io.sparkmp.schedule;
