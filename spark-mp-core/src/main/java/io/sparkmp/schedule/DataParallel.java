package io.sparkmp.schedule;

import java.util.ArrayList;
import java.util.List;

/**
 * Adds the gradient all-reduce of data-parallel replicas to a schedule: {@code ALLREDUCE(s)} right before every
 * {@code STEP(s)}, after the stage's last backward (and, on the last stage, after its LOSS), so the step applies
 * the gradient summed over the R replicas of the stage. Every replica runs the same schedule, so the members of a
 * ring start their all-reduces in the same order and the pass adds no deadlock: an ALLREDUCE waits only for the
 * same stage's ALLREDUCE on the other replicas, which comes after the same actions there.
 */
@io.sparkmp.Internal
public final class DataParallel {

    private DataParallel() {
    }

    /**
     * Returns {@code schedule} with an ALLREDUCE before each STEP.
     *
     * @throws IllegalArgumentException if {@code schedule} already has ALLREDUCE actions
     */
    public static Schedule add(Schedule schedule) {
        if (schedule == null) {
            throw new IllegalArgumentException("schedule must not be null");
        }
        List<List<Action>> lists = new ArrayList<>(schedule.devices());
        for (int d = 0; d < schedule.devices(); d++) {
            List<Action> out = new ArrayList<>();
            for (Action a : schedule.actions(d)) {
                if (a.type() == ActionType.ALLREDUCE) {
                    throw new IllegalArgumentException("schedule already has all-reduce actions: found " + a
                            + " on device " + d);
                }
                if (a.type() == ActionType.STEP) {
                    out.add(Action.of(a.stage(), ActionType.ALLREDUCE));
                }
                out.add(a);
            }
            lists.add(out);
        }
        return schedule.withActions(lists);
    }
}
