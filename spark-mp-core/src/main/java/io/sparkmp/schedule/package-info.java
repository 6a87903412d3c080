/**
 * Pipeline schedules as data: generate (GPipe, 1F1B, interleaved 1F1B), add communication, validate,
 * render and simulate per-device action lists.
 *
 * <p>Entry points: {@link io.sparkmp.schedule.Schedules#generate}, {@link io.sparkmp.schedule.Communication#add},
 * {@link io.sparkmp.schedule.ScheduleValidator#validate}, {@link io.sparkmp.schedule.ScheduleGrid#render},
 * {@link io.sparkmp.schedule.ScheduleSimulator#simulate}. Pure: no Spark, no ND4J, no I/O.
 */
package io.sparkmp.schedule;
