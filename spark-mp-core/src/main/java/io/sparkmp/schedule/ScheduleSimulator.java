package io.sparkmp.schedule;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Predicts the timing of a schedule from per-action costs: each device runs its list in order, one
 * action at a time; an action starts when its device is free and its input is there. F(s,m) waits for
 * F(s-1,m) and B(s,m) for B(s+1,m) (plus link latency when the stages are on different devices); with
 * communication actions, a RECV waits for its SEND's end plus the link latency instead, and sends never
 * block. An ALLREDUCE whose per-layer sums run beside the backward
 * ({@link ActionCosts#layerAllReduces}) ends no earlier than they do; the wait is idle time, not busy. Devices that
 * share a host ({@link ActionCosts#hostSharing}) slow each other's actions while they overlap: an action's
 * simulated length is then its duration stretched by what runs beside it, and its busy time is that length.
 */
@io.sparkmp.Internal
public final class ScheduleSimulator {

    private ScheduleSimulator() {
    }

    /**
     * Simulates one mini-batch of {@code schedule}.
     *
     * @throws ScheduleException if the schedule is not valid ({@link ScheduleValidator#validate})
     * @throws IllegalArgumentException if {@code costs} gives a negative or non-finite value, or has no
     *     value for a stage of the schedule
     */
    public static SimulationResult simulate(Schedule schedule, ActionCosts costs) {
        if (schedule == null || costs == null) {
            throw new IllegalArgumentException("schedule and costs must not be null");
        }
        ScheduleValidator.validate(schedule);
        int p = schedule.devices();
        int n = schedule.numStages();
        double[][] duration = new double[p][];
        for (int d = 0; d < p; d++) {
            List<Action> l = schedule.actions(d);
            duration[d] = new double[l.size()];
            for (int i = 0; i < l.size(); i++) {
                duration[d][i] = checked("duration of " + l.get(i), costs.duration(l.get(i)));
            }
        }
        double[] up = new double[Math.max(0, n - 1)];
        double[] down = new double[Math.max(0, n - 1)];
        for (int s = 0; s + 1 < n; s++) {
            up[s] = checked("latency " + s + "->" + (s + 1), costs.latency(s, s + 1));
            down[s] = checked("latency " + (s + 1) + "->" + s, costs.latency(s + 1, s));
        }
        Replay.Outcome out = new Replay(schedule).run(duration, (from, to) -> to > from ? up[from] : down[to],
                AllReduceThreads.of(schedule, costs), costs.hostSharing());
        if (!out.finished()) {
            // The validator ran the same replay; reaching this is a bug, not bad input.
            throw new IllegalStateException("schedule stalled in simulation after passing validation: " + out.blocked());
        }

        double makespan = 0;
        double[] busy = new double[p];
        List<List<SimulationResult.TimedAction>> timeline = new ArrayList<>(p);
        double[] fStart = new double[n * schedule.microBatches()];
        double[] bEnd = new double[n * schedule.microBatches()];
        for (int d = 0; d < p; d++) {
            List<Action> l = schedule.actions(d);
            List<SimulationResult.TimedAction> row = new ArrayList<>(l.size());
            for (int i = 0; i < l.size(); i++) {
                Action a = l.get(i);
                double start = out.start()[d][i];
                double end = out.end()[d][i];
                row.add(new SimulationResult.TimedAction(a, d, start, end));
                busy[d] += out.worked()[d][i];
                makespan = Math.max(makespan, end);
                if (a.type() == ActionType.FORWARD) {
                    fStart[a.stage() * schedule.microBatches() + a.microBatch()] = start;
                } else if (a.type() == ActionType.BACKWARD) {
                    bEnd[a.stage() * schedule.microBatches() + a.microBatch()] = end;
                }
            }
            timeline.add(row);
        }
        List<Double> busyList = new ArrayList<>(p);
        List<Double> idleList = new ArrayList<>(p);
        double totalBusy = 0;
        for (int d = 0; d < p; d++) {
            busyList.add(busy[d]);
            idleList.add(makespan - busy[d]);
            totalBusy += busy[d];
        }
        double bubble = makespan == 0 ? 0 : 1 - totalBusy / (p * makespan);

        List<Integer> peakByStage = new ArrayList<>(n);
        for (int s = 0; s < n; s++) {
            peakByStage.add(peakOverlap(schedule, fStart, bEnd, new int[] {s}));
        }
        List<Integer> peakByDevice = new ArrayList<>(p);
        for (int d = 0; d < p; d++) {
            int[] stages = new int[schedule.stagesPerDevice()];
            for (int c = 0; c < stages.length; c++) {
                stages[c] = c * p + d;
            }
            peakByDevice.add(peakOverlap(schedule, fStart, bEnd, stages));
        }
        return new SimulationResult(makespan, busyList, idleList, bubble, peakByStage, peakByDevice, timeline);
    }

    private static double checked(String what, double value) {
        if (!(value >= 0) || Double.isInfinite(value)) {
            throw new IllegalArgumentException(what + " must be finite and >= 0, found " + value);
        }
        return value;
    }

    /** Most intervals [F start, B end) of the given stages that overlap at one instant. */
    private static int peakOverlap(Schedule schedule, double[] fStart, double[] bEnd, int[] stages) {
        int m = schedule.microBatches();
        int k = stages.length * m;
        double[] starts = new double[k];
        double[] ends = new double[k];
        int j = 0;
        for (int s : stages) {
            for (int mb = 0; mb < m; mb++, j++) {
                starts[j] = fStart[s * m + mb];
                ends[j] = bEnd[s * m + mb];
            }
        }
        Arrays.sort(starts);
        Arrays.sort(ends);
        // Half-open intervals: an end at the same instant as a start frees its slot first.
        int peak = 0;
        int open = 0;
        int e = 0;
        for (double start : starts) {
            while (e < k && ends[e] <= start) {
                open--;
                e++;
            }
            open++;
            peak = Math.max(peak, open);
        }
        return peak;
    }
}
