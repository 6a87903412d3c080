package io.sparkmp.plan;

/**
 * Time and memory of a candidate stage {@code [a, b)} (layers a..b-1) at a fixed micro-batch size, in O(1)
 * from prefix sums. This is the cost model the partitioner optimises; {@link PipelinePlan} reports the same
 * numbers.
 *
 * <p><b>Time</b> of a stage per micro-batch = forward + backward of its layers
 * ({@code fixed + m * perExample} each) + its sends: the activation it sends forward across the cut at
 * {@code b} (when b &lt; L) and the input gradient it sends back across the cut at {@code a} (when a &gt; 0),
 * each {@code latency + m * bytesPerExample / bandwidth}. Sends are charged to the sender because the
 * runtime sends from the stage's own thread; receives overlap with the neighbour's send.
 *
 * <p><b>Memory</b> of a stage holding {@code n} micro-batches in flight =
 * <pre>
 *   params + gradients + updater state                       (sum over its layers)
 * + n * m * sum(kept bytes per example)                       (activations kept for backward)
 * + m * max(working bytes per example)                        (one layer works at a time)
 * + m * (input bytes of layer a + output bytes of layer b-1)  (receive buffers: activation in and
 *                                                              gradient in; on stage 0 the input batch,
 *                                                              on the last stage the labels)
 * </pre>
 */
final class StageCostModel {

    private final ModelProfile profile;
    private final int layers;
    private final int microBatchSize;
    private final double bandwidth;
    private final double latency;
    private final double[] computePrefix;
    private final long[] staticPrefix;
    private final long[] keptPrefix;
    private final long[] paramPrefix;

    /**
     * @param microBatchSize examples per micro-batch, m
     * @param bandwidthBytesPerSecond link bandwidth between neighbouring stages
     * @param latencySeconds per-message latency
     */
    StageCostModel(ModelProfile profile, int microBatchSize, double bandwidthBytesPerSecond, double latencySeconds) {
        this.profile = profile;
        this.layers = profile.layerCount();
        this.microBatchSize = microBatchSize;
        this.bandwidth = bandwidthBytesPerSecond;
        this.latency = latencySeconds;
        computePrefix = new double[layers + 1];
        staticPrefix = new long[layers + 1];
        keptPrefix = new long[layers + 1];
        paramPrefix = new long[layers + 1];
        for (int i = 0; i < layers; i++) {
            LayerProfile l = profile.layer(i);
            computePrefix[i + 1] = computePrefix[i] + l.forwardSeconds(microBatchSize) + l.backwardSeconds(microBatchSize);
            staticPrefix[i + 1] = staticPrefix[i] + l.staticBytes();
            keptPrefix[i + 1] = keptPrefix[i] + l.keptBytesPerExample();
            paramPrefix[i + 1] = paramPrefix[i] + l.parameters();
        }
    }

    ModelProfile profile() {
        return profile;
    }

    int layers() {
        return layers;
    }

    int microBatchSize() {
        return microBatchSize;
    }

    /** Forward + backward seconds of layers [a, b) on one micro-batch. */
    double compute(int a, int b) {
        return computePrefix[b] - computePrefix[a];
    }

    double forward(int a, int b) {
        double s = 0;
        for (int i = a; i < b; i++) {
            s += profile.layer(i).forwardSeconds(microBatchSize);
        }
        return s;
    }

    double backward(int a, int b) {
        double s = 0;
        for (int i = a; i < b; i++) {
            s += profile.layer(i).backwardSeconds(microBatchSize);
        }
        return s;
    }

    /** Seconds to send one micro-batch's tensor across the cut before layer {@code k} (0 at the model's ends). */
    double cut(int k) {
        if (k <= 0 || k >= layers) {
            return 0;
        }
        return latency + cutBytes(k) / bandwidth;
    }

    /** Bytes of one micro-batch's activation crossing the cut before layer {@code k} (0 at the model's ends). */
    long cutBytes(int k) {
        if (k <= 0 || k >= layers) {
            return 0;
        }
        return (long) microBatchSize * profile.layer(k - 1).outputBytesPerExample();
    }

    /** Time per micro-batch of stage [a, b): compute + forward send at b + backward send at a. */
    double time(int a, int b) {
        return compute(a, b) + cut(a) + cut(b);
    }

    long parameters(int a, int b) {
        return paramPrefix[b] - paramPrefix[a];
    }

    /** Parameters + gradients + updater state of [a, b). */
    long staticBytes(int a, int b) {
        return staticPrefix[b] - staticPrefix[a];
    }

    /** Bytes kept for backward per micro-batch of stage [a, b). */
    long keptBytes(int a, int b) {
        return microBatchSize * (keptPrefix[b] - keptPrefix[a]);
    }

    /** Receive buffers of stage [a, b) for one micro-batch. */
    long receiveBytes(int a, int b) {
        return (long) microBatchSize * (profile.inputBytesPerExample(a) + profile.layer(b - 1).outputBytesPerExample());
    }

    /** Working bytes of layer i for one micro-batch. */
    long workingBytes(int i) {
        return (long) microBatchSize * profile.layer(i).workingBytesPerExample();
    }

    /** Memory of stage [a, b) with {@code inFlight} micro-batches in flight (straight sum, for reports and tests). */
    StageMemory memory(int a, int b, int inFlight, long budget) {
        long working = 0;
        for (int i = a; i < b; i++) {
            working = Math.max(working, workingBytes(i));
        }
        long p = 0;
        long g = 0;
        long u = 0;
        for (int i = a; i < b; i++) {
            p += profile.layer(i).parameterBytes();
            g += profile.layer(i).gradientBytes();
            u += profile.layer(i).updaterBytes();
        }
        return new StageMemory(p, g, u, inFlight, inFlight * keptBytes(a, b), working, receiveBytes(a, b), budget);
    }
}
