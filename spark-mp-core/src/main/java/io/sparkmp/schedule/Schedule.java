package io.sparkmp.schedule;

import java.util.ArrayList;
import java.util.List;

/**
 * A pipeline schedule as data: for each device (pipeline rank) the ordered list of actions it runs for
 * one mini-batch. Virtual stage {@code s} lives on device {@code s % devices} (round-robin placement,
 * as in interleaved 1F1B; with one stage per device, stage == device).
 *
 * @param kind the generator that produced it
 * @param devices number of devices (pipeline ranks), P
 * @param stagesPerDevice virtual stages per device, v (1 unless interleaved)
 * @param microBatches micro-batches per mini-batch, M
 * @param actionsByDevice immutable per-device action lists, index = device
 */
@io.sparkmp.Internal
public record Schedule(ScheduleKind kind, int devices, int stagesPerDevice, int microBatches,
                       List<List<Action>> actionsByDevice) {

    public Schedule {
        if (kind == null) {
            throw new IllegalArgumentException("kind must not be null");
        }
        if (devices <= 0) {
            throw new IllegalArgumentException("devices must be positive, found " + devices);
        }
        if (stagesPerDevice <= 0) {
            throw new IllegalArgumentException("stagesPerDevice must be positive, found " + stagesPerDevice);
        }
        if (microBatches <= 0) {
            throw new IllegalArgumentException("microBatches must be positive, found " + microBatches);
        }
        if (actionsByDevice == null || actionsByDevice.size() != devices) {
            throw new IllegalArgumentException("need one action list per device (" + devices + "), found "
                    + (actionsByDevice == null ? "null" : actionsByDevice.size()));
        }
        List<List<Action>> copy = new ArrayList<>(devices);
        for (List<Action> l : actionsByDevice) {
            copy.add(List.copyOf(l));
        }
        actionsByDevice = List.copyOf(copy);
    }

    /** Total number of (virtual) pipeline stages, P * v. */
    public int numStages() {
        return devices * stagesPerDevice;
    }

    /** Device that runs virtual stage {@code stage}. */
    public int deviceOf(int stage) {
        if (stage < 0 || stage >= numStages()) {
            throw new IllegalArgumentException("stage " + stage + " out of range [0, " + numStages() + ")");
        }
        return stage % devices;
    }

    /** The actions device {@code device} runs, in order. */
    public List<Action> actions(int device) {
        return actionsByDevice.get(device);
    }

    /** A copy with new per-device action lists (used by passes such as adding communication). */
    public Schedule withActions(List<List<Action>> newActions) {
        return new Schedule(kind, devices, stagesPerDevice, microBatches, newActions);
    }
}
