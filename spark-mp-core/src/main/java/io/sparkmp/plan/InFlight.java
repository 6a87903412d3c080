package io.sparkmp.plan;

import io.sparkmp.schedule.Action;
import io.sparkmp.schedule.ActionType;
import io.sparkmp.schedule.Schedule;
import io.sparkmp.schedule.ScheduleKind;

/**
 * Micro-batches whose activations a stage holds at its peak, per (virtual) stage: what multiplies the kept
 * activation bytes in the memory model.
 *
 * <ul>
 *   <li>GPipe: {@code M} on every stage (all forwards before any backward).</li>
 *   <li>1F1B: {@code min(M, P - s)} on stage {@code s}: stage s runs P - s - 1 warm-up forwards, then one
 *       more forward before its first backward.</li>
 *   <li>Interleaved 1F1B with v stages per device: without a generated schedule, device d runs
 *       {@code n_d = min(M * v, 2 * (P - d - 1) + (v - 1) * P + 1)} forwards (of any of its chunks) before
 *       its first backward (Megatron-LM's warm-up count + 1); each of its virtual stages is charged
 *       {@code min(M, n_d)}, an upper bound. {@link #fromSchedule(Schedule)} counts exactly.</li>
 * </ul>
 */
final class InFlight {

    private InFlight() {
    }

    /** Closed-form peak in-flight counts, one per virtual stage (length P * v). */
    static int[] closedForm(ScheduleKind kind, int devices, int stagesPerDevice, int microBatches) {
        int k = devices * stagesPerDevice;
        int[] n = new int[k];
        for (int s = 0; s < k; s++) {
            int d = s % devices;
            n[s] = switch (kind) {
                case GPIPE -> microBatches;
                case ONE_F_ONE_B -> Math.min(microBatches, devices - s);
                case INTERLEAVED_1F1B -> Math.min(microBatches, (int) Math.min((long) microBatches * stagesPerDevice,
                        2L * (devices - d - 1) + (long) (stagesPerDevice - 1) * devices + 1));
            };
        }
        return n;
    }

    /**
     * Exact peak in-flight counts of a generated schedule: walking each device's actions in order, a forward
     * of a stage adds one micro-batch to that stage, its backward (B, or W when the backward is split) removes it.
     */
    static int[] fromSchedule(Schedule schedule) {
        int k = schedule.numStages();
        int[] now = new int[k];
        int[] peak = new int[k];
        for (int d = 0; d < schedule.devices(); d++) {
            for (Action a : schedule.actions(d)) {
                if (a.type() == ActionType.FORWARD) {
                    now[a.stage()]++;
                    peak[a.stage()] = Math.max(peak[a.stage()], now[a.stage()]);
                } else if (a.type() == ActionType.BACKWARD || a.type() == ActionType.BACKWARD_WEIGHT) {
                    now[a.stage()]--;
                }
            }
        }
        return peak;
    }
}
