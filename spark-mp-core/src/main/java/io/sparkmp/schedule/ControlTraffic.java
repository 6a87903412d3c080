package io.sparkmp.schedule;

import java.util.ArrayList;
import java.util.List;

/**
 * Adds the control traffic of a step to a schedule: loading each micro-batch's training rows, carrying its
 * labels (and masks) to the last stage, and reducing the loss. After this pass the schedule says every
 * message the runtime sends, so the validator checks it, the simulator charges it and the links a rank
 * needs are read from it ({@link #peerStage}).
 *
 * <ul>
 *   <li>{@code LOAD(0, m)} right before {@code F(0, m)} (stage 0 reads the rows when its forward needs them,
 *       not all at the start of the step);</li>
 *   <li>labels travel along the pipeline, device to device on the first stage of each device:
 *       {@code SEND_L(0, m)} after {@code LOAD(0, m)}, then on device {@code d = 1 .. P - 1}
 *       {@code RECV_L(d, m)} right before {@code F(d, m)} (after its {@code RECV_F}) and, except on the last
 *       device, {@code SEND_L(d, m)} right after it. Device {@code P - 1} holds the last stage, which reads the
 *       labels in its backward; every device reads the features mask from the same message. Only links between
 *       neighbouring devices carry it, the ones activations use anyway, so no rank links to a rank it does
 *       not exchange activations with;</li>
 *   <li>{@code LOSS(last)} right before the last stage's {@code STEP}, after all its backwards.</li>
 * </ul>
 *
 * <p>No new wait: {@code RECV_L(d, m)} sits after {@code RECV_F(d, m)}, which already waited for
 * {@code F(d - 1, m)}, and that forward comes after {@code SEND_L(d - 1, m)}; so a schedule that does not
 * deadlock before this pass does not deadlock after it.
 */
@io.sparkmp.Internal
public final class ControlTraffic {

    private ControlTraffic() {
    }

    /**
     * Returns {@code schedule} with LOAD, SEND_L, RECV_L and LOSS actions inserted.
     *
     * @throws IllegalArgumentException if {@code schedule} already has control actions
     */
    public static Schedule add(Schedule schedule) {
        if (schedule == null) {
            throw new IllegalArgumentException("schedule must not be null");
        }
        int p = schedule.devices();
        int last = schedule.numStages() - 1;
        List<List<Action>> lists = new ArrayList<>(p);
        for (int d = 0; d < p; d++) {
            List<Action> out = new ArrayList<>();
            for (Action a : schedule.actions(d)) {
                if (a.type().isControl()) {
                    throw new IllegalArgumentException("schedule already has control actions: found " + a
                            + " on device " + d);
                }
                int s = a.stage();
                if (a.type() == ActionType.FORWARD && s < p) {
                    int m = a.microBatch();
                    if (s == 0) {
                        out.add(Action.of(0, ActionType.LOAD, m));
                    } else {
                        out.add(Action.of(s, ActionType.RECV_L, m));
                    }
                    if (s < p - 1) {
                        out.add(Action.of(s, ActionType.SEND_L, m));
                    }
                } else if (a.type() == ActionType.STEP && s == last) {
                    out.add(Action.of(last, ActionType.LOSS));
                }
                out.add(a);
            }
            lists.add(out);
        }
        return schedule.withActions(lists);
    }

    /**
     * The schedule a runtime executes for {@code kind}: the generated compute actions, then
     * {@link Communication#add} and {@link #add}. Not validated here (see {@link ScheduleValidator}).
     */
    public static Schedule lowered(ScheduleKind kind, int devices, int microBatches, int stagesPerDevice) {
        return add(Communication.add(Schedules.generate(kind, devices, microBatches, stagesPerDevice)));
    }

    /**
     * As {@link #lowered(ScheduleKind, int, int, int)} for each of {@code replicas} data-parallel replicas: with
     * more than one, {@link DataParallel#add} puts an ALLREDUCE before every STEP.
     */
    public static Schedule lowered(ScheduleKind kind, int devices, int microBatches, int stagesPerDevice, int replicas) {
        PipelineRules.requirePositive("replicas", replicas);
        Schedule one = lowered(kind, devices, microBatches, stagesPerDevice);
        return replicas == 1 ? one : DataParallel.add(one);
    }

    /**
     * The stage at the other end of communication action {@code a}: {@code stage + 1} for SEND_F, RECV_B and
     * SEND_L, {@code stage - 1} for RECV_F, SEND_B and RECV_L.
     *
     * @throws IllegalArgumentException if {@code a} is not a communication action
     */
    public static int peerStage(Action a) {
        return switch (a.type()) {
            case SEND_F, RECV_B, SEND_L -> a.stage() + 1;
            case RECV_F, SEND_B, RECV_L -> a.stage() - 1;
            default -> throw new IllegalArgumentException(a + " is not a communication action");
        };
    }
}
