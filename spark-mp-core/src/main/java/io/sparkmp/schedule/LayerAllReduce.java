package io.sparkmp.schedule;

import java.io.Serializable;

/**
 * One layer's gradient sum across data-parallel replicas, run beside the device's action list: handed over
 * {@code readySeconds} after the start of its stage's last BACKWARD of the mini-batch (when that layer's backward
 * is done), and taking {@code seconds} on the device's one all-reduce thread, which runs the sums one after
 * another in the order they were handed over (see {@link ActionCosts#layerAllReduces}).
 *
 * Part of the plan a user reads ({@code StagePlan.allReduces()}), so part of the API.
 *
 * @param readySeconds from the start of the stage's last backward until the layer's gradient is handed over
 * @param seconds the ring pass over the layer's gradient
 */
public record LayerAllReduce(double readySeconds, double seconds) implements Serializable {
    private static final long serialVersionUID = 1L;

    public LayerAllReduce {
        if (!(readySeconds >= 0) || Double.isInfinite(readySeconds) || !(seconds >= 0) || Double.isInfinite(seconds)) {
            throw new IllegalArgumentException("readySeconds and seconds must be finite and >= 0, found "
                    + readySeconds + " and " + seconds);
        }
    }
}
