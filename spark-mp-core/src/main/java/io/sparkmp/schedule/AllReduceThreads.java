package io.sparkmp.schedule;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The simulated per-device all-reduce thread of data-parallel replicas ({@link ActionCosts#layerAllReduces}): each
 * stage's layer sums are handed over during its last BACKWARD of the mini-batch, the device's one thread runs every
 * sum handed over, first come first served, and an ALLREDUCE ends no earlier than its stage's last sum. Sums handed
 * over after that one (by later actions of the device, or later in another stage's backward) cannot delay it.
 */
final class AllReduceThreads implements Replay.Beside {
    /** Per device: ALLREDUCE position -> its stage; stage -> position of its last BACKWARD before that ALLREDUCE. */
    private final Map<Integer, Integer>[] stageAt;
    private final Map<Integer, Integer>[] lastBackward;
    private final Map<Integer, List<LayerAllReduce>> sums;

    private AllReduceThreads(Map<Integer, Integer>[] stageAt, Map<Integer, Integer>[] lastBackward,
                             Map<Integer, List<LayerAllReduce>> sums) {
        this.stageAt = stageAt;
        this.lastBackward = lastBackward;
        this.sums = sums;
    }

    /** The threads of {@code schedule} under {@code costs}, or null when no stage's all-reduce is overlapped. */
    @SuppressWarnings("unchecked")
    static AllReduceThreads of(Schedule schedule, ActionCosts costs) {
        int p = schedule.devices();
        Map<Integer, Integer>[] stageAt = new Map[p];
        Map<Integer, Integer>[] lastBackward = new Map[p];
        Map<Integer, List<LayerAllReduce>> sums = new HashMap<>();
        for (int d = 0; d < p; d++) {
            stageAt[d] = new HashMap<>();
            lastBackward[d] = new HashMap<>();
            Map<Integer, Integer> latestB = new HashMap<>();
            List<Action> l = schedule.actions(d);
            for (int i = 0; i < l.size(); i++) {
                Action a = l.get(i);
                if (a.type() == ActionType.BACKWARD) {
                    latestB.put(a.stage(), i);
                } else if (a.type() == ActionType.ALLREDUCE && latestB.containsKey(a.stage())) {
                    List<LayerAllReduce> layers = costs.layerAllReduces(a.stage());
                    if (layers != null) {
                        stageAt[d].put(i, a.stage());
                        lastBackward[d].put(a.stage(), latestB.get(a.stage()));
                        sums.put(a.stage(), List.copyOf(layers));
                    }
                }
            }
        }
        return sums.isEmpty() ? null : new AllReduceThreads(stageAt, lastBackward, sums);
    }

    @Override
    public double earliestEnd(int device, int index, double[] starts) {
        Integer stage = stageAt[device].get(index);
        if (stage == null) {
            return -1;
        }
        // Every sum handed over before this ALLREDUCE: by the last backwards that precede it on this device.
        List<double[]> handed = new ArrayList<>(); // {ready, seconds, stage, order within the stage}
        for (Map.Entry<Integer, Integer> e : lastBackward[device].entrySet()) {
            if (e.getValue() < index) {
                List<LayerAllReduce> layers = sums.get(e.getKey());
                for (int j = 0; j < layers.size(); j++) {
                    handed.add(new double[] {starts[e.getValue()] + layers.get(j).readySeconds(),
                            layers.get(j).seconds(), e.getKey(), j});
                }
            }
        }
        handed.sort((x, y) -> x[0] != y[0] ? Double.compare(x[0], y[0])
                : x[2] != y[2] ? Double.compare(y[2], x[2]) : Double.compare(x[3], y[3]));
        double free = 0;
        double end = -1;
        int remaining = sums.get(stage).size();
        for (double[] h : handed) {
            free = Math.max(free, h[0]) + h[1];
            if ((int) h[2] == stage && --remaining == 0) {
                end = free;
                break;
            }
        }
        return end;
    }

    @Override
    public String toString() {
        return "AllReduceThreads" + Arrays.toString(stageAt);
    }
}
