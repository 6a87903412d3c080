package io.sparkmp.plan;

/**
 * Time and memory of a candidate stage {@code [a, b)} (layers a..b-1) at a fixed micro-batch size, in O(1)
 * from prefix sums (and a sparse table for the largest layer's gradient). This is the cost model the partitioner optimises; {@link PipelinePlan} reports the same
 * numbers.
 *
 * <p><b>Time</b> of a stage per micro-batch = forward + backward of its layers
 * ({@code fixed + m * perExample} each) + its sends: the activation it sends forward across the cut at
 * {@code b} (when b &lt; L) and the input gradient it sends back across the cut at {@code a} (when a &gt; 0),
 * each {@code latency + m * bytesPerExample / bandwidth}. Sends are charged to the sender because the
 * runtime sends from the stage's own thread; receives overlap with the neighbour's send.
 *
 * <p><b>Activation recomputation</b> (when on): a runtime that keeps only each micro-batch's stage input re-runs
 * the stage's forward before a backward that does not directly follow that micro-batch's forward. Under GPipe
 * (backwards in micro-batch order after all forwards), 1F1B and interleaved with M &gt; 1 that is every backward
 * of every stage but the last (whose forward runs together with its backward). The model charges it to every
 * non-last stage ({@code b < L}): {@link #recompute(int, int)} = the stage's forward, added to its time.
 *
 * <p><b>Optimizer step</b> (when its rate is set): every stage updates its parameters once per mini-batch, in
 * {@code parameters x updateSecondsPerParameter}; spread over the M micro-batches it adds
 * {@link #update(int, int)} / M to the stage's time per micro-batch, so the partition balances it too.
 *
 * <p><b>Memory</b> of a stage holding {@code n} micro-batches in flight =
 * <pre>
 *   params + updater state                                   (sum over its layers)
 * + gradients: with M &gt; 1 all its layers' plus the largest   (the step's sum in DL4J's gradient view, and the
 *   layer's again; with M = 1 the largest layer's only          runtime's scratch for the later micro-batches;
 *   (unless fusing is off: then as with M &gt; 1)
 *                                                              with one micro-batch the runtime updates each
 *                                                              layer right after its backward: one layer's
 *                                                              gradient exists at a time)
 * + activations kept for backward: n * m * sum(kept bytes per example) without recomputation; with it
 *   (n - 1) * m * (input bytes of layer a) + m * sum(kept bytes per example)   (see {@link #activationBytes})
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
    private final boolean recomputeForward;
    private final double updateSecondsPerParameter;
    private final int microBatches;
    /** Whether each layer is updated right after its backward (one micro-batch per step, fusing allowed). */
    private final boolean fusedUpdate;
    private final double[] computePrefix;
    private final double[] forwardPrefix;
    private final long[] staticPrefix;
    private final long[] keptPrefix;
    /** Per-example bytes a step holds for the deferred weight gradients of dense layers: input + output bytes. */
    private final long[] deferredPrefix;
    /** Per-example seconds of the deferred weight-gradient products (see {@link #deferredWeightGradient}). */
    private final double[] deferredTimePrefix;
    private final long[] paramPrefix;
    /** {@code largestGradient[k][i]}: the largest gradient of layers [i, i + 2^k) (a sparse table: O(1) range maxima). */
    private final long[][] largestGradient;

    /**
     * @param microBatchSize examples per micro-batch, m
     * @param bandwidthBytesPerSecond link bandwidth between neighbouring stages
     * @param latencySeconds per-message latency
     */
    StageCostModel(ModelProfile profile, int microBatchSize, double bandwidthBytesPerSecond, double latencySeconds) {
        this(profile, microBatchSize, bandwidthBytesPerSecond, latencySeconds, false, 0, 1);
    }

    /**
     * @param recomputeForward whether non-last stages re-run their forward before each backward (see the class
     *     comment)
     */
    StageCostModel(ModelProfile profile, int microBatchSize, double bandwidthBytesPerSecond, double latencySeconds,
                   boolean recomputeForward) {
        this(profile, microBatchSize, bandwidthBytesPerSecond, latencySeconds, recomputeForward, 0, 1);
    }

    /**
     * @param updateSecondsPerParameter optimizer step time per parameter (once per mini-batch), 0 to ignore it
     * @param microBatches micro-batches per mini-batch, M, over which the step's update is spread
     */
    StageCostModel(ModelProfile profile, int microBatchSize, double bandwidthBytesPerSecond, double latencySeconds,
                   boolean recomputeForward, double updateSecondsPerParameter, int microBatches) {
        this(profile, microBatchSize, bandwidthBytesPerSecond, latencySeconds, recomputeForward,
                updateSecondsPerParameter, microBatches, true);
    }

    /**
     * @param fusedUpdateAllowed whether the runtime may update each layer right after its backward when a step has
     *     one micro-batch; it may not when a step must stay undoable until its end ({@code spark.mp.nonFinite=skip}),
     *     and then a one-micro-batch step holds the whole gradient as with M &gt; 1
     */
    StageCostModel(ModelProfile profile, int microBatchSize, double bandwidthBytesPerSecond, double latencySeconds,
                   boolean recomputeForward, double updateSecondsPerParameter, int microBatches,
                   boolean fusedUpdateAllowed) {
        this.fusedUpdate = microBatches == 1 && fusedUpdateAllowed;
        this.recomputeForward = recomputeForward;
        this.updateSecondsPerParameter = updateSecondsPerParameter;
        this.microBatches = microBatches;
        this.profile = profile;
        this.layers = profile.layerCount();
        this.microBatchSize = microBatchSize;
        this.bandwidth = bandwidthBytesPerSecond;
        this.latency = latencySeconds;
        computePrefix = new double[layers + 1];
        forwardPrefix = new double[layers + 1];
        staticPrefix = new long[layers + 1];
        keptPrefix = new long[layers + 1];
        deferredPrefix = new long[layers + 1];
        deferredTimePrefix = new double[layers + 1];
        paramPrefix = new long[layers + 1];
        for (int i = 0; i < layers; i++) {
            LayerProfile l = profile.layer(i);
            computePrefix[i + 1] = computePrefix[i] + l.forwardSeconds(microBatchSize) + l.backwardSeconds(microBatchSize);
            forwardPrefix[i + 1] = forwardPrefix[i] + l.forwardSeconds(microBatchSize);
            staticPrefix[i + 1] = staticPrefix[i] + l.staticBytes() - (fusedUpdate ? l.gradientBytes() : 0);
            keptPrefix[i + 1] = keptPrefix[i] + l.keptBytesPerExample();
            deferredPrefix[i + 1] = deferredPrefix[i] + (DEFERRING_TYPE.equals(l.type())
                    ? profile.inputBytesPerExample(i) + l.outputBytesPerExample() : 0);
            deferredTimePrefix[i + 1] = deferredTimePrefix[i] + (DEFERRING_TYPE.equals(l.type())
                    ? l.backwardSecondsPerExample() / 2 : 0);
            paramPrefix[i + 1] = paramPrefix[i] + l.parameters();
        }
        int levels = 1;
        while ((1 << levels) <= layers) {
            levels++;
        }
        largestGradient = new long[levels][];
        largestGradient[0] = new long[layers];
        for (int i = 0; i < layers; i++) {
            largestGradient[0][i] = profile.layer(i).gradientBytes();
        }
        for (int k = 1; k < levels; k++) {
            int half = 1 << (k - 1);
            largestGradient[k] = new long[layers - (1 << k) + 1];
            for (int i = 0; i < largestGradient[k].length; i++) {
                largestGradient[k][i] = Math.max(largestGradient[k - 1][i], largestGradient[k - 1][i + half]);
            }
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

    /**
     * Forward + backward seconds of layers [a, b) on one micro-batch, without recomputation: additive over
     * layers, and a lower bound of {@link #time} (the partitioner's pruning relies on both).
     */
    double compute(int a, int b) {
        return computePrefix[b] - computePrefix[a];
    }

    double forward(int a, int b) {
        return forwardPrefix[b] - forwardPrefix[a];
    }

    /** Backward seconds of layers [a, b) on one micro-batch, without recomputation. */
    double backward(int a, int b) {
        return (computePrefix[b] - computePrefix[a]) - forward(a, b);
    }

    /** Seconds the stage [a, b) spends re-running its forward per micro-batch: 0 for the last stage or when off. */
    double recompute(int a, int b) {
        return recomputeForward && b < layers ? forward(a, b) : 0;
    }

    /** Whether non-last stages are charged a recomputed forward. */
    boolean recomputeForward() {
        return recomputeForward;
    }

    /** Optimizer step seconds of stage [a, b), once per mini-batch. */
    double update(int a, int b) {
        return updateSecondsPerParameter * parameters(a, b);
    }

    /** Largest time any stage can have beyond compute and sends (whole-model recompute and update): for bounds. */
    double maxRecompute() {
        return (recomputeForward ? forward(0, layers) : 0) + update(0, layers) / microBatches;
    }

    /** Seconds to send one micro-batch's tensor across the cut before layer {@code k} (0 at the model's ends). */
    double cut(int k) {
        if (k <= 0 || k >= layers) {
            return 0;
        }
        return latency + cutBytes(k) / bandwidth;
    }

    /**
     * Bytes of one micro-batch's activations crossing the cut before layer {@code k} (0 at the model's ends): for a
     * graph every crossing tensor, so a skip connection is charged on every cut it spans (it is relayed).
     */
    long cutBytes(int k) {
        if (k <= 0 || k >= layers) {
            return 0;
        }
        return (long) microBatchSize * profile.cutBytesPerExample(k);
    }

    /**
     * Time per micro-batch of stage [a, b): compute + recomputation + its optimizer step / M + forward send at b
     * + backward send at a.
     */
    double time(int a, int b) {
        return compute(a, b) + recompute(a, b) + update(a, b) / microBatches + cut(a) + cut(b);
    }

    long parameters(int a, int b) {
        return paramPrefix[b] - paramPrefix[a];
    }

    /** Parameters + updater state + the gradients the runtime holds for [a, b) (see the class comment). */
    long staticBytes(int a, int b) {
        return staticPrefix[b] - staticPrefix[a] + gradientScratch(a, b);
    }

    /** The runtime's gradient scratch of stage [a, b): its largest layer's gradient. */
    long gradientScratch(int a, int b) {
        if (b <= a) {
            return 0;
        }
        int k = 31 - Integer.numberOfLeadingZeros(b - a);
        return Math.max(largestGradient[k][a], largestGradient[k][b - (1 << k)]);
    }

    /** Bytes kept for backward per micro-batch of stage [a, b). */
    long keptBytes(int a, int b) {
        return microBatchSize * (keptPrefix[b] - keptPrefix[a]);
    }

    /**
     * Activation bytes stage [a, b) holds at its peak with {@code inFlight} micro-batches in flight. Without
     * recomputation: {@code inFlight} x {@link #keptBytes}. With it the stage keeps only the input of each
     * micro-batch in flight, and its layers hold the activations of one micro-batch (the one being run or
     * back-propagated), whose input is one of those kept: {@code (inFlight - 1) x} its input +
     * {@link #keptBytes}. Grows with {@code b} at a fixed {@code a}, and with {@code inFlight}.
     */
    long activationBytes(int a, int b, int inFlight) {
        if (!recomputeForward || inFlight <= 1) {
            return inFlight * keptBytes(a, b) + deferredBytes(a, b);
        }
        return (long) (inFlight - 1) * microBatchSize * profile.inputBytesPerExample(a) + keptBytes(a, b)
                + deferredBytes(a, b);
    }

    /** Layer type whose weight gradient the runtime defers by default ({@code spark.mp.deferWeightGradients}). */
    static final String DEFERRING_TYPE = "DenseLayer";

    /**
     * Bytes stage [a, b) holds until its step's last backward for the deferred weight gradients of its dense
     * layers: each layer's input and pre-activation gradient (its output's size) for every example of the step;
     * 0 with one micro-batch per step (nothing is deferred). Counted whether or not the setting is on (an
     * upper bound when it is off); a layer-normalized dense layer, which does not defer, is counted too.
     */
    long deferredBytes(int a, int b) {
        return microBatches < 2 ? 0 : (long) microBatches * microBatchSize * (deferredPrefix[b] - deferredPrefix[a]);
    }

    /**
     * Seconds per micro-batch of the weight-gradient products dW = Xᵀ·δ of stage [a, b)'s dense layers, which the
     * runtime forms once per step, at its STEP, over all the step's rows ({@code spark.mp.deferWeightGradients},
     * the default) when a step has M &gt; 1 micro-batches: part of {@link #backward}, moved by the simulator from each
     * B to the STEP. A dense backward per example is the weight gradient and the input gradient, two products of
     * the same multiply-adds, so the product takes half the layer's backward time per example (its fixed per-call
     * part is not repeated per row). (The forward's time per example, tried first, is no bound: on tiny layers, whose
     * calls are all fixed cost, it exceeded the whole backward and left the simulated B at zero.) 0 with one
     * micro-batch per step.
     */
    double deferredWeightGradient(int a, int b) {
        if (microBatches < 2) {
            return 0;
        }
        return Math.min(backward(a, b), microBatchSize * (deferredTimePrefix[b] - deferredTimePrefix[a]));
    }

    /** Receive buffers of stage [a, b) for one micro-batch. */
    long receiveBytes(int a, int b) {
        return (long) microBatchSize * (profile.inputBytesPerExample(a) + profile.outputBytesPerExample(b));
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
            g += fusedUpdate ? 0 : profile.layer(i).gradientBytes();
            u += profile.layer(i).updaterBytes();
        }
        g += gradientScratch(a, b);
        return new StageMemory(p, g, u, inFlight, activationBytes(a, b, inFlight), working, receiveBytes(a, b), budget);
    }
}
