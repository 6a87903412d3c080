package io.sparkmp.schedule;

import java.util.List;

/**
 * What {@link ScheduleSimulator#simulate} predicts for one mini-batch.
 *
 * @param makespan time from the first action's start (0) to the last action's end
 * @param busyByDevice per device, the sum of its actions' durations
 * @param idleByDevice per device, {@code makespan - busy}
 * @param bubbleFraction {@code 1 - sum(busy) / (devices * makespan)}; 0 when the makespan is 0
 * @param peakInFlightByStage per virtual stage, the most micro-batches in flight at once (in flight from
 *     the start of its F until the end of its B: their activations are held)
 * @param peakInFlightByDevice per device, the most micro-batches in flight at once over all its stages
 * @param timeline per device, every action with its start and end, in device order
 */
@io.sparkmp.Internal
public record SimulationResult(double makespan, List<Double> busyByDevice, List<Double> idleByDevice,
                               double bubbleFraction, List<Integer> peakInFlightByStage,
                               List<Integer> peakInFlightByDevice, List<List<TimedAction>> timeline) {

    /** One action placed in time on its device. */
    public record TimedAction(Action action, int device, double start, double end) {
    }

    public SimulationResult {
        busyByDevice = List.copyOf(busyByDevice);
        idleByDevice = List.copyOf(idleByDevice);
        peakInFlightByStage = List.copyOf(peakInFlightByStage);
        peakInFlightByDevice = List.copyOf(peakInFlightByDevice);
        timeline = timeline.stream().map(List::copyOf).toList();
    }

    /**
     * The timing of {@code action}.
     *
     * @throws IllegalArgumentException if the simulated schedule has no such action
     */
    public TimedAction timing(Action action) {
        for (List<TimedAction> device : timeline) {
            for (TimedAction t : device) {
                if (t.action().equals(action)) {
                    return t;
                }
            }
        }
        throw new IllegalArgumentException("action " + action + " is not in the simulated schedule");
    }
}
