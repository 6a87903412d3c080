package io.sparkmp.schedule;

import java.util.ArrayList;
import java.util.List;

/**
 * Adds point-to-point communication to a compute-only schedule.
 *
 * <p>For every F and B whose neighbouring stage lives on another device:
 * {@code RECV_F} right before {@code F(s, m)} (input from stage {@code s - 1}), {@code SEND_F} right after
 * {@code F(s, m)} (output to {@code s + 1}), {@code RECV_B} right before {@code B(s, m)} (output gradient
 * from {@code s + 1}) and {@code SEND_B} right after {@code B(s, m)} (input gradient to {@code s - 1}).
 * A pair whose two stages share a device (one device running several virtual stages) is left out: the
 * tensor stays in memory.
 *
 * <p>Contract: with sends that do not block (buffered) and receives that block, the result deadlocks
 * if and only if the compute schedule's data dependencies already do, because every receive waits for
 * exactly the tensor its compute action needs and every send is issued as soon as that tensor exists.
 * So any schedule from {@link Schedules#generate} stays deadlock-free.
 */
final class Communication {

    private Communication() {
    }

    /**
     * Returns {@code schedule} with SEND/RECV actions inserted around its F and B actions.
     *
     * @throws IllegalArgumentException if {@code schedule} already has communication actions (adding them
     *     twice would pair every tensor with two receives)
     */
    public static Schedule add(Schedule schedule) {
        if (schedule == null) {
            throw new IllegalArgumentException("schedule must not be null");
        }
        int last = schedule.numStages() - 1;
        List<List<Action>> lists = new ArrayList<>(schedule.devices());
        for (int d = 0; d < schedule.devices(); d++) {
            List<Action> out = new ArrayList<>();
            for (Action a : schedule.actions(d)) {
                if (a.type().isCommunication()) {
                    throw new IllegalArgumentException("schedule already has communication actions: found " + a
                            + " on device " + d);
                }
                int s = a.stage();
                int m = a.microBatch();
                if (a.type() == ActionType.FORWARD) {
                    if (s > 0 && crossesDevices(schedule, s - 1, s)) {
                        out.add(Action.of(s, ActionType.RECV_F, m));
                    }
                    out.add(a);
                    if (s < last && crossesDevices(schedule, s, s + 1)) {
                        out.add(Action.of(s, ActionType.SEND_F, m));
                    }
                } else if (a.type() == ActionType.BACKWARD) {
                    if (s < last && crossesDevices(schedule, s, s + 1)) {
                        out.add(Action.of(s, ActionType.RECV_B, m));
                    }
                    out.add(a);
                    if (s > 0 && crossesDevices(schedule, s - 1, s)) {
                        out.add(Action.of(s, ActionType.SEND_B, m));
                    }
                } else {
                    out.add(a);
                }
            }
            lists.add(out);
        }
        return schedule.withActions(lists);
    }

    /** Whether a tensor between neighbouring stages {@code a} and {@code b} travels between devices. */
    static boolean crossesDevices(Schedule schedule, int a, int b) {
        return schedule.deviceOf(a) != schedule.deviceOf(b);
    }
}
