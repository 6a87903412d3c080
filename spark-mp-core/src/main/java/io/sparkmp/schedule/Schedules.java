package io.sparkmp.schedule;

import java.util.ArrayList;
import java.util.List;

/**
 * Generates compute-only pipeline schedules (F, B and one STEP per virtual stage). Communication is a
 * separate pass ({@link Communication#add}); checking is {@link ScheduleValidator#validate}.
 *
 * <p>Orders produced, per device {@code d} of {@code P}, with {@code M} micro-batches:
 * <ul>
 *   <li>{@link ScheduleKind#GPIPE}: {@code F0 .. F(M-1)} then {@code B0 .. B(M-1)}. Backwards run in
 *       ascending micro-batch order (not reversed), which keeps the same makespan under uniform costs
 *       and makes the order of gradient accumulation the same as in 1F1B.</li>
 *   <li>{@link ScheduleKind#ONE_F_ONE_B} (1F1B with flush): a warm-up of {@code min(P - 1 - d, M)}
 *       forwards, then alternate one forward and one backward, then the remaining backwards. At most
 *       {@code min(P - d, M)} micro-batches are in flight on stage {@code d}.</li>
 *   <li>{@link ScheduleKind#INTERLEAVED_1F1B} (Megatron-LM): device {@code d} holds virtual stages
 *       {@code d, d + P, ..., d + (v - 1) P}. Its {@code k}-th forward is micro-batch
 *       {@code (k / (P v)) P + k % P} of chunk {@code (k % (P v)) / P}; backwards visit chunks in
 *       reverse. Warm-up is {@code min(2 (P - 1 - d) + (v - 1) P, v M)} forwards, then 1F1B, then
 *       cool-down.</li>
 * </ul>
 * Every list ends with one STEP per virtual stage of the device, in ascending stage order.
 */
@io.sparkmp.Internal
public final class Schedules {

    private Schedules() {
    }

    /**
     * Builds the compute schedule of {@code kind}.
     *
     * @param kind which schedule
     * @param devices pipeline ranks P, positive
     * @param microBatches micro-batches per mini-batch M, positive
     * @param stagesPerDevice virtual stages per device v: must be 1 for GPipe and 1F1B; any positive value
     *     for interleaved 1F1B (with v = 1 its warm-up, {@code 2 (P - 1 - d)}, is deeper than plain 1F1B's)
     * @return the schedule, with {@code P * v} virtual stages, stage {@code s} on device {@code s % P}
     * @throws IllegalArgumentException for a non-positive count, {@code stagesPerDevice != 1} with GPipe or
     *     1F1B, or interleaved 1F1B with {@code microBatches} not a multiple of {@code devices}
     */
    public static Schedule generate(ScheduleKind kind, int devices, int microBatches, int stagesPerDevice) {
        if (kind == null) {
            throw new IllegalArgumentException("kind must not be null");
        }
        PipelineRules.requirePositive("devices", devices);
        PipelineRules.requirePositive("microBatches", microBatches);
        PipelineRules.requirePositive("stagesPerDevice", stagesPerDevice);
        PipelineRules.requireStagesPerDevice(kind, stagesPerDevice);
        PipelineRules.requireInterleavedRounds(kind, microBatches, devices);
        List<List<Action>> lists = new ArrayList<>(devices);
        for (int d = 0; d < devices; d++) {
            List<Action> list = switch (kind) {
                case GPIPE -> gpipe(d, microBatches);
                case ONE_F_ONE_B -> oneFOneB(d, devices, microBatches);
                case INTERLEAVED_1F1B -> interleaved(d, devices, microBatches, stagesPerDevice);
            };
            for (int c = 0; c < stagesPerDevice; c++) {
                list.add(Action.of(c * devices + d, ActionType.STEP));
            }
            lists.add(list);
        }
        return new Schedule(kind, devices, stagesPerDevice, microBatches, lists);
    }

    private static List<Action> gpipe(int device, int m) {
        List<Action> list = new ArrayList<>();
        for (int i = 0; i < m; i++) {
            list.add(Action.of(device, ActionType.FORWARD, i));
        }
        for (int i = 0; i < m; i++) {
            list.add(Action.of(device, ActionType.BACKWARD, i));
        }
        return list;
    }

    private static List<Action> oneFOneB(int device, int p, int m) {
        int warmup = Math.min(p - 1 - device, m);
        List<Action> list = new ArrayList<>();
        for (int i = 0; i < warmup; i++) {
            list.add(Action.of(device, ActionType.FORWARD, i));
        }
        for (int i = 0; i < m - warmup; i++) {
            list.add(Action.of(device, ActionType.FORWARD, warmup + i));
            list.add(Action.of(device, ActionType.BACKWARD, i));
        }
        for (int i = m - warmup; i < m; i++) {
            list.add(Action.of(device, ActionType.BACKWARD, i));
        }
        return list;
    }

    private static List<Action> interleaved(int device, int p, int m, int v) {
        int total = m * v;
        int warmup = Math.min(2 * (p - 1 - device) + (v - 1) * p, total);
        List<Action> list = new ArrayList<>();
        for (int k = 0; k < warmup; k++) {
            list.add(interleavedAction(k, true, device, p, v));
        }
        for (int i = 0; i < total - warmup; i++) {
            list.add(interleavedAction(warmup + i, true, device, p, v));
            list.add(interleavedAction(i, false, device, p, v));
        }
        for (int k = total - warmup; k < total; k++) {
            list.add(interleavedAction(k, false, device, p, v));
        }
        return list;
    }

    /** The k-th forward (or backward) of a device: micro-batches go in groups of P through each chunk. */
    private static Action interleavedAction(int k, boolean forward, int device, int p, int v) {
        int group = p * v;
        int chunk = (k % group) / p;
        if (!forward) {
            chunk = v - 1 - chunk;
        }
        int microBatch = (k / group) * p + k % p;
        return Action.of(chunk * p + device, forward ? ActionType.FORWARD : ActionType.BACKWARD, microBatch);
    }
}
