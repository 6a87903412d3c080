package io.sparkmp.schedule;

/**
 * How long actions take, for {@link ScheduleSimulator}: device time of each action, and the latency of
 * a tensor crossing the link between two neighbouring stages on different devices. Units are the
 * caller's (seconds, or relative units). All values must be finite and {@code >= 0}.
 */
@io.sparkmp.Internal
public interface ActionCosts {

    /**
     * Device time of {@code action}: the device is busy for this long. SEND/RECV time here is the time
     * the device spends on them (e.g. copying), not the link latency.
     */
    double duration(Action action);

    /**
     * Time from the end of the producer on stage {@code fromStage} until the tensor can be consumed on
     * neighbouring stage {@code toStage} (another device). Activations go {@code s -> s + 1}, gradients
     * {@code s + 1 -> s}.
     */
    double latency(int fromStage, int toStage);

    /**
     * For data-parallel replicas whose gradient all-reduce runs per layer beside the device's own list: stage
     * {@code stage}'s layer sums, in hand-over order (top layer first), each handed over during the stage's last
     * BACKWARD of the mini-batch. One thread per device runs every stage's sums one after another in the order
     * they were handed over; the stage's ALLREDUCE cannot end before its last sum has, and the wait beyond its own
     * {@link #duration} is idle time, not busy. Null (the default): not overlapped, ALLREDUCE takes its
     * {@link #duration} alone.
     */
    default java.util.List<LayerAllReduce> layerAllReduces(int stage) {
        return null;
    }

    /**
     * Which devices share a host's cores, and how much they slow each other down while they compute at once
     * ({@link HostSharing}); {@link HostSharing#NONE} (the default): every device computes at its own speed and
     * {@link #duration} is what each action takes.
     */
    default HostSharing hostSharing() {
        return HostSharing.NONE;
    }

    /**
     * Same costs on every stage: F takes {@code forward}, B {@code backward}, other actions (STEP,
     * ALLREDUCE, SEND/RECV) take no device time, and every cross-device tensor takes {@code comm}.
     *
     * @throws IllegalArgumentException if a value is negative or not finite
     */
    static ActionCosts uniform(double forward, double backward, double comm) {
        requireCost("forward", forward);
        requireCost("backward", backward);
        requireCost("comm", comm);
        return new UniformCosts(forward, backward, comm);
    }

    /**
     * Costs per virtual stage: F of stage {@code s} takes {@code forward[s]}, B {@code backward[s]}, other
     * actions (STEP, ALLREDUCE, SEND/RECV) no device time; a tensor between stages {@code s} and {@code s + 1} (either way) takes
     * {@code sendTime[s]}. The arrays are copied.
     *
     * @param forward one entry per stage
     * @param backward one entry per stage
     * @param sendTime one entry per link between neighbouring stages: {@code forward.length - 1} entries
     * @throws IllegalArgumentException if lengths differ, {@code forward} is empty, or a value is negative
     *     or not finite
     */
    static ActionCosts perStage(double[] forward, double[] backward, double[] sendTime) {
        if (forward == null || backward == null || sendTime == null) {
            throw new IllegalArgumentException("forward, backward and sendTime must not be null");
        }
        if (forward.length == 0) {
            throw new IllegalArgumentException("forward must have one entry per stage, found none");
        }
        if (backward.length != forward.length) {
            throw new IllegalArgumentException("backward must have one entry per stage (" + forward.length
                    + "), found " + backward.length);
        }
        if (sendTime.length != forward.length - 1) {
            throw new IllegalArgumentException("sendTime must have one entry per link between neighbouring stages ("
                    + (forward.length - 1) + " for " + forward.length + " stages), found " + sendTime.length);
        }
        for (int s = 0; s < forward.length; s++) {
            requireCost("forward[" + s + "]", forward[s]);
            requireCost("backward[" + s + "]", backward[s]);
        }
        for (int s = 0; s < sendTime.length; s++) {
            requireCost("sendTime[" + s + "]", sendTime[s]);
        }
        return new PerStageCosts(forward.clone(), backward.clone(), sendTime.clone());
    }

    private static void requireCost(String name, double value) {
        if (!(value >= 0) || Double.isInfinite(value)) {
            throw new IllegalArgumentException(name + " must be finite and >= 0, found " + value);
        }
    }
}
