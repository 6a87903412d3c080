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

    /**
     * Outcome: start/end per position, the time each action computed ({@code worked}: its duration, or longer
     * while a shared host slowed it; a wait beside it is not work); when stuck, the blocked head of every
     * unfinished device.
     */
    record Outcome(double[][] start, double[][] end, double[][] worked, List<Blocked> blocked) {
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
        return run(duration, latency, beside, HostSharing.NONE);
    }

    /**
     * As {@link #run(double[][], Latency, Beside)} on devices that share hosts ({@code sharing}): while several
     * tasks of a host run actions at once each progresses at {@code 1 / sharing.slowdown(k)} of its speed, so an
     * action's end depends on what overlaps it, and the replay runs in time order ({@link #shared}). Without
     * sharing ({@link HostSharing#slows()} false) it is the plain replay.
     */
    Outcome run(double[][] duration, Latency latency, Beside beside, HostSharing sharing) {
        if (sharing != null && sharing.slows()) {
            return shared(duration, latency, beside, sharing);
        }
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
                    double s = startTime(d, next, end, free, latency);
                    if (s == Double.POSITIVE_INFINITY) {
                        break; // its input is not made yet
                    }
                    int i = next[d];
                    start[d][i] = s;
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
        return outcome(start, end, duration, next);
    }

    private Outcome outcome(double[][] start, double[][] end, double[][] worked, int[] next) {
        List<Blocked> blocked = new ArrayList<>();
        for (int d = 0; d < schedule.devices(); d++) {
            if (next[d] < schedule.actions(d).size()) {
                Action a = schedule.actions(d).get(next[d]);
                blocked.add(new Blocked(d, next[d], a, dependency(a)));
            }
        }
        return new Outcome(start, end, worked, List.copyOf(blocked));
    }

    /**
     * The replay in time order, for shared hosts: at each event (an action's work done, a wait beside it over, a
     * tensor arriving) every device whose next action can start starts it; between events the running actions'
     * rates are constant, {@code 1 / sharing.slowdown(k)} with {@code k} the tasks of the host computing (a
     * device's own count times {@link HostSharing#copies}). Zero-length actions start and end at the same
     * instant. An action whose work is done but whose {@link Beside} wait is not over holds its device idle: it
     * does not slow the others.
     */
    private Outcome shared(double[][] duration, Latency latency, Beside beside, HostSharing sharing) {
        int p = schedule.devices();
        double[][] start = new double[p][];
        double[][] end = new double[p][];
        double[][] worked = new double[p][];
        for (int d = 0; d < p; d++) {
            int n = schedule.actions(d).size();
            start[d] = new double[n];
            end[d] = new double[n];
            worked[d] = new double[n];
        }
        int[] next = new int[p];
        double[] free = new double[p];
        double[] left = new double[p]; // solo seconds of work left of the running action
        double[] holdUntil = new double[p]; // work done, waiting beside until then
        int[] state = new int[p]; // 0 idle, 1 computing, 2 holding
        int hosts = (p + sharing.devicesPerHost() - 1) / sharing.devicesPerHost();
        double t = 0;
        while (true) {
            // Start and end what can at t, until nothing more can (zero-length actions chain at one instant).
            boolean changed = true;
            while (changed) {
                changed = false;
                for (int d = 0; d < p; d++) {
                    if (state[d] == 0 && next[d] < schedule.actions(d).size()) {
                        double s = startTime(d, next, end, free, latency);
                        if (s <= t) {
                            start[d][next[d]] = Math.max(s, free[d]);
                            left[d] = duration[d][next[d]];
                            state[d] = 1;
                            changed = true;
                        }
                    }
                    if (state[d] == 1 && left[d] <= 0) {
                        workDone(d, t, start, end, worked, next, free, holdUntil, state, beside);
                        changed = true;
                    } else if (state[d] == 2 && holdUntil[d] <= t) {
                        finish(d, holdUntil[d], end, next, free, state);
                        changed = true;
                    }
                }
            }
            int[] computing = new int[hosts];
            for (int d = 0; d < p; d++) {
                if (state[d] == 1) {
                    computing[d / sharing.devicesPerHost()] += sharing.copies();
                }
            }
            double[] rate = new double[p];
            double nextT = Double.POSITIVE_INFINITY;
            for (int d = 0; d < p; d++) {
                if (state[d] == 1) {
                    rate[d] = 1 / sharing.slowdown(computing[d / sharing.devicesPerHost()]);
                    nextT = Math.min(nextT, t + left[d] / rate[d]);
                } else if (state[d] == 2) {
                    nextT = Math.min(nextT, holdUntil[d]);
                } else if (next[d] < schedule.actions(d).size()) {
                    double s = startTime(d, next, end, free, latency);
                    if (s < Double.POSITIVE_INFINITY) {
                        nextT = Math.min(nextT, s);
                    }
                }
            }
            if (nextT == Double.POSITIVE_INFINITY) {
                break; // all done, or stuck
            }
            for (int d = 0; d < p; d++) {
                if (state[d] == 1) {
                    double done = t + left[d] / rate[d];
                    // Round-off: whoever ends at this event (within 1e-12 of it) ends now, with nothing left.
                    left[d] = done <= nextT + 1e-12 * Math.max(1, Math.abs(nextT)) ? 0 : left[d] - (nextT - t) * rate[d];
                }
            }
            t = nextT;
        }
        return outcome(start, end, worked, next);
    }

    /**
     * When device {@code d}'s next action can start: its device free and its input there; infinite while the
     * producing action has not ended.
     */
    private double startTime(int d, int[] next, double[][] end, double[] free, Latency latency) {
        Action a = schedule.actions(d).get(next[d]);
        Action dep = dependency(a);
        double ready = 0;
        if (dep != null) {
            int[] at = position.get(dep);
            if (at[1] >= next[at[0]]) {
                return Double.POSITIVE_INFINITY;
            }
            ready = end[at[0]][at[1]] + (at[0] == d ? 0 : latency.between(dep.stage(), a.stage()));
        }
        return Math.max(free[d], ready);
    }

    private static void workDone(int d, double t, double[][] start, double[][] end, double[][] worked, int[] next,
                                 double[] free, double[] holdUntil, int[] state, Beside beside) {
        int i = next[d];
        worked[d][i] = t - start[d][i];
        double e = beside == null ? -1 : beside.earliestEnd(d, i, start[d]);
        if (e > t) {
            holdUntil[d] = e;
            state[d] = 2;
        } else {
            finish(d, t, end, next, free, state);
        }
    }

    private static void finish(int d, double t, double[][] end, int[] next, double[] free, int[] state) {
        end[d][next[d]] = t;
        free[d] = t;
        next[d]++;
        state[d] = 0;
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
