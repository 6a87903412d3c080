package io.sparkmp.runtime;

import java.util.Arrays;

import org.nd4j.linalg.api.ndarray.INDArray;

/** One tensor slot per (stage, micro-batch) of a step: activations or gradients waiting for their action. */
final class MicroBatchTensors {

    private final INDArray[][] slots;

    MicroBatchTensors(int stages, int microBatches) {
        slots = new INDArray[stages][microBatches];
    }

    void put(int stage, int mb, INDArray tensor) {
        slots[stage][mb] = tensor;
    }

    /** Takes the tensor out of its slot, or null when the slot is empty. */
    INDArray takeOrNull(int stage, int mb) {
        INDArray t = slots[stage][mb];
        slots[stage][mb] = null;
        return t;
    }

    /**
     * Takes the tensor out of its slot.
     *
     * @throws IllegalStateException naming the stage, micro-batch and {@code what} was expected, if empty
     */
    INDArray take(int stage, int mb, String what) {
        INDArray t = takeOrNull(stage, mb);
        if (t == null) {
            throw new IllegalStateException("no input for stage " + stage + " micro-batch " + mb + ": expected " + what
                    + " before this action");
        }
        return t;
    }

    void clear() {
        for (INDArray[] row : slots) {
            Arrays.fill(row, null);
        }
    }
}
