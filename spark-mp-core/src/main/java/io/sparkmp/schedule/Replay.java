package io.sparkmp.schedule;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs a structurally valid schedule in simulated time: every device executes its list in order, one
 * action at a time; an action starts when its device is free and its input exists. Sends never block;
 * receives wait for the matching send (plus link latency). Where a schedule has no receive for an input
 * (no communication pass, or both stages on one device) the compute action waits for the producing
 * compute action itself. Shared by the validator (deadlock check) and the simulator (timings).
 */
final class Replay {

    /** A link between two stages: how long a tensor takes from the end of its producer. */
    interface Latency {
        double between(int fromStage, int toStage);
    }

    /** Outcome: start/end per position; when stuck, the blocked head of every unfinished device. */
    record Outcome(double[][] start, double[][] end, List<Blocked> blocked) {
        boolean finished() {
            return blocked.isEmpty();
        }
    }

    /** Device {@code device} cannot run its action at {@code index} until {@code waitsFor} has run. */
    record Blocked(int device, int index, Action action, Action waitsFor) {
    }

    private final Schedule schedule;
    private final Map<Action, int[]> position = new HashMap<>();

    Replay(Schedule schedule) {
        this.schedule = schedule;
        for (int d = 0; d < schedule.devices(); d++) {
            List<Action> l = schedule.actions(d);
            for (int i = 0; i < l.size(); i++) {
                position.putIfAbsent(l.get(i), new int[] {d, i});
            }
        }
    }

    Outcome run(double[][] duration, Latency latency) {
        return run(duration, latency, null);
    }

    /** Work beside a device's list that an action waits for (the replicas' per-layer all-reduce thread). */
    interface Beside {
        /**
         * The earliest end of action {@code index} of {@code device}, given the starts of that device's actions
         * before it ({@code starts[0..index)}); negative: no such wait.
         */
        double earliestEnd(int device, int index, double[] starts);
    }

    /** As {@link #run(double[][], Latency)}; {@code beside} (null: none) can hold an action past its duration. */
    Outcome run(double[][] duration, Latency latency, Beside beside) {
        int p = schedule.devices();
        double[][] start = new double[p][];
        double[][] end = new double[p][];
        for (int d = 0; d < p; d++) {
            start[d] = new double[schedule.actions(d).size()];
            end[d] = new double[schedule.actions(d).size()];
        }
        int[] next = new int[p];
        double[] free = new double[p];
        boolean progress = true;
        while (progress) {
            progress = false;
            for (int d = 0; d < p; d++) {
                List<Action> l = schedule.actions(d);
                while (next[d] < l.size()) {
                    Action a = l.get(next[d]);
                    Action dep = dependency(a);
                    double ready = 0;
                    if (dep != null) {
                        int[] at = position.get(dep);
                        if (at[1] >= next[at[0]]) {
                            break;
                        }
                        ready = end[at[0]][at[1]] + (at[0] == d ? 0 : latency.between(dep.stage(), a.stage()));
                    }
                    int i = next[d];
                    start[d][i] = Math.max(free[d], ready);
                    end[d][i] = start[d][i] + duration[d][i];
                    if (beside != null) {
                        end[d][i] = Math.max(end[d][i], beside.earliestEnd(d, i, start[d]));
                    }
                    free[d] = end[d][i];
                    next[d]++;
                    progress = true;
                }
            }
        }
        List<Blocked> blocked = new ArrayList<>();
        for (int d = 0; d < p; d++) {
            if (next[d] < schedule.actions(d).size()) {
                Action a = schedule.actions(d).get(next[d]);
                blocked.add(new Blocked(d, next[d], a, dependency(a)));
            }
        }
        return new Outcome(start, end, List.copyOf(blocked));
    }

    /**
     * The action on another device (or an earlier stage of the same device) whose output {@code a}
     * needs, or {@code null} when its device order alone covers its inputs. Same-device predecessors
     * (F before B, F before SEND_F, RECV before its compute) are checked by the validator as order.
     */
    private Action dependency(Action a) {
        int s = a.stage();
        int m = a.microBatch();
        int last = schedule.numStages() - 1;
        return switch (a.type()) {
            case RECV_F -> Action.of(s - 1, ActionType.SEND_F, m);
            case RECV_B -> Action.of(s + 1, ActionType.SEND_B, m);
            case RECV_L -> Action.of(s - 1, ActionType.SEND_L, m);
            case FORWARD -> s > 0 && !position.containsKey(Action.of(s, ActionType.RECV_F, m))
                    ? Action.of(s - 1, ActionType.FORWARD, m) : null;
            case BACKWARD -> s < last && !position.containsKey(Action.of(s, ActionType.RECV_B, m))
                    ? Action.of(s + 1, ActionType.BACKWARD, m) : null;
            default -> null;
        };
    }
}
