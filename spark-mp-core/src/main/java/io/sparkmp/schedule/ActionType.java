package io.sparkmp.schedule;

/**
 * The kinds of instruction a stage executes. The {@link #code()} is the text used in the compact
 * form of an {@link Action} ({@code 1F3}, {@code 2SEND_B0}, {@code 0STEP}).
 */
public enum ActionType {
    /** Forward pass of one micro-batch through the stage. */
    FORWARD("F", true),
    /** Full backward pass (input gradient and weight gradient) of one micro-batch. */
    BACKWARD("B", true),
    /** Backward for the input gradient only (zero-bubble schedules). */
    BACKWARD_INPUT("I", true),
    /** Backward for the weight gradient only (zero-bubble schedules). */
    BACKWARD_WEIGHT("W", true),
    /** Send this stage's forward output of a micro-batch to stage + 1. */
    SEND_F("SEND_F", true),
    /** Receive this stage's forward input of a micro-batch from stage - 1. */
    RECV_F("RECV_F", true),
    /** Send this stage's input gradient of a micro-batch to stage - 1. */
    SEND_B("SEND_B", true),
    /** Receive this stage's output gradient of a micro-batch from stage + 1. */
    RECV_B("RECV_B", true),
    /**
     * Stage 0 loads the training rows of one micro-batch (features, labels, masks) from the step's data; the
     * forward of that micro-batch consumes them.
     */
    LOAD("LOAD", true),
    /**
     * Send the labels of a micro-batch (with its labels and features masks) on toward the last stage: to
     * stage + 1. Control traffic runs along the first stage of every device, 0 -> 1 -> ... -> P - 1, so it
     * uses only links that activations use too.
     */
    SEND_L("SEND_L", true),
    /** Receive the labels (and masks) of a micro-batch from stage - 1; this device's forwards read its masks. */
    RECV_L("RECV_L", true),
    /** Last stage: the step's loss, its micro-batches' summed score plus every device's L1/L2 terms. */
    LOSS("LOSS", false),
    /** Sum the accumulated gradients across data-parallel replicas of this stage. */
    ALLREDUCE("ALLREDUCE", false),
    /** Optimizer step: apply the accumulated mini-batch gradient. */
    STEP("STEP", false);

    private final String code;
    private final boolean perMicroBatch;

    ActionType(String code, boolean perMicroBatch) {
        this.code = code;
        this.perMicroBatch = perMicroBatch;
    }

    /** Text code used in the compact action form. */
    public String code() {
        return code;
    }

    /** Whether actions of this type name a micro-batch. */
    public boolean perMicroBatch() {
        return perMicroBatch;
    }

    /** True for SEND_F, RECV_F, SEND_B, RECV_B and the labels' SEND_L, RECV_L. */
    public boolean isCommunication() {
        return this == SEND_F || this == RECV_F || this == SEND_B || this == RECV_B || this == SEND_L
                || this == RECV_L;
    }

    /** True for the control actions that carry the training rows and the loss: LOAD, SEND_L, RECV_L, LOSS. */
    public boolean isControl() {
        return this == LOAD || this == SEND_L || this == RECV_L || this == LOSS;
    }

    /** True for F, B, I, W. */
    public boolean isCompute() {
        return this == FORWARD || this == BACKWARD || this == BACKWARD_INPUT || this == BACKWARD_WEIGHT;
    }
}
