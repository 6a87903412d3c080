package io.sparkmp.plan;

import java.io.Serializable;

/**
 * Cost and memory figures of one layer, as plain numbers. Produced by {@code io.sparkmp.model.LayerProfiler}
 * from a DL4J configuration, or written by hand in tests and what-if studies.
 *
 * <p>Time model: a call of the layer on a micro-batch of {@code m} examples takes
 * {@code fixed + m * perExample} seconds (forward and backward separately). The fixed part is what makes
 * tiny micro-batches inefficient; an analytic (FLOP-based) profile from {@code LayerProfiler} charges a constant
 * per call ({@code spark.mp.plan.analyticCallSeconds}).
 *
 * @param name layer name (unique within a model; used for manual boundaries and in explain tables)
 * @param type layer type, e.g. {@code DenseLayer}
 * @param parameters number of trainable parameters
 * @param parameterBytes bytes of the parameters in the training data type
 * @param gradientBytes bytes of the parameter gradients (accumulated over micro-batches)
 * @param updaterBytes bytes of the updater state (e.g. Adam's two moments) for the chosen updater
 * @param outputBytesPerExample bytes of the layer's output activation per example: what crosses a cut
 *     after this layer (forward activation, and the same size of gradient coming back)
 * @param keptBytesPerExample bytes per example held from this layer's forward until its backward (for DL4J:
 *     the layer input plus any per-example cache); multiplied by the number of micro-batches in flight
 * @param workingBytesPerExample transient bytes per example during this layer's forward or backward
 *     (working memory, input gradient); needed once, not per micro-batch in flight
 * @param forwardFlopsPerExample analytic forward floating-point operations per example
 * @param forwardSecondsFixed forward seconds per call, independent of the micro-batch size
 * @param forwardSecondsPerExample forward seconds per example
 * @param backwardSecondsFixed backward seconds per call, independent of the micro-batch size
 * @param backwardSecondsPerExample backward seconds per example
 */
public record LayerProfile(String name, String type, long parameters, long parameterBytes, long gradientBytes,
                           long updaterBytes, long outputBytesPerExample, long keptBytesPerExample,
                           long workingBytesPerExample, double forwardFlopsPerExample,
                           double forwardSecondsFixed, double forwardSecondsPerExample,
                           double backwardSecondsFixed, double backwardSecondsPerExample) implements Serializable {

    private static final long serialVersionUID = 1L;

    public LayerProfile {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("layer name must not be blank, found '" + name + "'");
        }
        if (type == null) {
            throw new IllegalArgumentException("layer type must not be null (layer '" + name + "')");
        }
        nonNegative(name, "parameters", parameters);
        nonNegative(name, "parameterBytes", parameterBytes);
        nonNegative(name, "gradientBytes", gradientBytes);
        nonNegative(name, "updaterBytes", updaterBytes);
        nonNegative(name, "outputBytesPerExample", outputBytesPerExample);
        nonNegative(name, "keptBytesPerExample", keptBytesPerExample);
        nonNegative(name, "workingBytesPerExample", workingBytesPerExample);
        finiteNonNegative(name, "forwardFlopsPerExample", forwardFlopsPerExample);
        finiteNonNegative(name, "forwardSecondsFixed", forwardSecondsFixed);
        finiteNonNegative(name, "forwardSecondsPerExample", forwardSecondsPerExample);
        finiteNonNegative(name, "backwardSecondsFixed", backwardSecondsFixed);
        finiteNonNegative(name, "backwardSecondsPerExample", backwardSecondsPerExample);
    }

    /**
     * A layer whose time comes from its FLOP count alone: forward {@code flops / flopsPerSecond} per example,
     * backward twice that (input gradient plus weight gradient), no fixed cost.
     *
     * @param bytesPerElement bytes of one element of the data type (4 for FLOAT, 8 for DOUBLE)
     * @param updaterStatePerParameter updater state elements per parameter (0 SGD, 1 momentum, 2 Adam)
     * @param inputElementsPerExample elements of the layer input per example (kept for backward)
     * @param outputElementsPerExample elements of the layer output per example
     * @throws IllegalArgumentException when flopsPerSecond is not positive
     */
    public static LayerProfile analytic(String name, String type, long parameters, int bytesPerElement,
                                        int updaterStatePerParameter, long inputElementsPerExample,
                                        long outputElementsPerExample, double flopsPerExample, double flopsPerSecond) {
        if (!(flopsPerSecond > 0) || Double.isInfinite(flopsPerSecond)) {
            throw new IllegalArgumentException("flopsPerSecond must be positive and finite, found " + flopsPerSecond);
        }
        if (bytesPerElement <= 0) {
            throw new IllegalArgumentException("bytesPerElement must be positive, found " + bytesPerElement);
        }
        long pb = parameters * bytesPerElement;
        double fwd = flopsPerExample / flopsPerSecond;
        return new LayerProfile(name, type, parameters, pb, pb, pb * updaterStatePerParameter,
                outputElementsPerExample * bytesPerElement, inputElementsPerExample * bytesPerElement,
                (inputElementsPerExample + outputElementsPerExample) * bytesPerElement, flopsPerExample,
                0, fwd, 0, 2 * fwd);
    }

    /** The same layer with its times replaced by the analytic FLOP estimate (backward = 2 x forward), no fixed cost. */
    public LayerProfile withFlopTimes(double flopsPerSecond) {
        return withFlopTimes(flopsPerSecond, 0);
    }

    /**
     * The same layer with its times replaced by the analytic FLOP estimate (backward = 2 x forward) plus
     * {@code callSeconds} per forward and per backward call.
     */
    public LayerProfile withFlopTimes(double flopsPerSecond, double callSeconds) {
        if (!(flopsPerSecond > 0) || Double.isInfinite(flopsPerSecond)) {
            throw new IllegalArgumentException("flopsPerSecond must be positive and finite, found " + flopsPerSecond);
        }
        double fwd = forwardFlopsPerExample / flopsPerSecond;
        return new LayerProfile(name, type, parameters, parameterBytes, gradientBytes, updaterBytes,
                outputBytesPerExample, keptBytesPerExample, workingBytesPerExample, forwardFlopsPerExample,
                callSeconds, fwd, callSeconds, 2 * fwd);
    }

    /** Forward seconds for one call on {@code microBatchSize} examples. */
    public double forwardSeconds(int microBatchSize) {
        return forwardSecondsFixed + microBatchSize * forwardSecondsPerExample;
    }

    /** Backward seconds for one call on {@code microBatchSize} examples. */
    public double backwardSeconds(int microBatchSize) {
        return backwardSecondsFixed + microBatchSize * backwardSecondsPerExample;
    }

    /** Parameters + gradients + updater state: the bytes a stage holds for this layer whatever the schedule. */
    public long staticBytes() {
        return parameterBytes + gradientBytes + updaterBytes;
    }

    private static void nonNegative(String layer, String what, long v) {
        if (v < 0) {
            throw new IllegalArgumentException(what + " must be >= 0, found " + v + " (layer '" + layer + "')");
        }
    }

    private static void finiteNonNegative(String layer, String what, double v) {
        if (!(v >= 0) || Double.isInfinite(v)) {
            throw new IllegalArgumentException(what + " must be finite and >= 0, found " + v + " (layer '" + layer + "')");
        }
    }
}
