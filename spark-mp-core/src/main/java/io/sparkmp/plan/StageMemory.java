package io.sparkmp.plan;

import java.io.Serializable;

/**
 * Memory estimate of one stage (see {@link PipelinePlanner} for the formula) against its budget.
 *
 * @param parameterBytes parameters of its layers
 * @param gradientBytes parameter gradients the stage holds: all its layers' (the step's sum) plus its largest
 *     layer's (the scratch the later micro-batches write into); with one micro-batch per step and the fused
 *     update, the largest layer's only
 * @param updaterBytes updater state of its layers
 * @param inFlight micro-batches whose activations the stage holds at its peak under the schedule
 * @param activationBytes activations held for backward: inFlight x kept bytes per micro-batch, or with
 *     recomputation the stage input of inFlight - 1 micro-batches plus one micro-batch's kept bytes; with more
 *     than one micro-batch per step plus the deferred weight gradients' copies (each dense layer's input and
 *     pre-activation gradient for every example of the step)
 * @param workingBytes the largest single layer's working memory for one micro-batch
 * @param receiveBytes receive buffers: activation in + gradient in, one micro-batch each
 * @param budgetBytes the budget this stage was checked against
 */
public record StageMemory(long parameterBytes, long gradientBytes, long updaterBytes, int inFlight,
                          long activationBytes, long workingBytes, long receiveBytes, long budgetBytes)
        implements Serializable {

    private static final long serialVersionUID = 1L;

    /** Sum of all parts. */
    public long totalBytes() {
        return parameterBytes + gradientBytes + updaterBytes + activationBytes + workingBytes + receiveBytes;
    }

    /** Whether the total fits the budget. */
    public boolean fits() {
        return totalBytes() <= budgetBytes;
    }

    /** Total as a fraction of the budget. */
    public double budgetFraction() {
        return budgetBytes <= 0 ? Double.POSITIVE_INFINITY : (double) totalBytes() / budgetBytes;
    }
}
