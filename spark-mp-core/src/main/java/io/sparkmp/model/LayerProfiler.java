package io.sparkmp.model;

import io.sparkmp.plan.LayerProfile;
import io.sparkmp.plan.ModelProfile;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.deeplearning4j.nn.conf.CacheMode;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.conf.memory.LayerMemoryReport;
import org.deeplearning4j.nn.conf.memory.MemoryType;
import org.deeplearning4j.nn.conf.memory.MemoryUseMode;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Turns a DL4J {@link MultiLayerConfiguration} into the planner's {@link ModelProfile}: per layer its parameter
 * count, bytes of parameters, gradients and updater state (from DL4J's memory report for the configuration's
 * updater and data type), activation bytes per example (the output shape, what crosses a cut; the input kept
 * for backward; working memory) and forward/backward time per example.
 *
 * <p>Times come either from a FLOP estimate ({@link #analytic}) or from a short profiling run
 * ({@link #measure}) that times each layer the way the runtime will run it: as a one-layer {@link StageSlice}
 * (DL4J workspaces on, the preprocessor in front of the layer, the parameter gradient added to the step's
 * sum), on its real input (the previous layer's output) at two micro-batch sizes (m and 2m), after warm-up,
 * taking the median of the repeats; a straight line through the two medians gives the fixed cost per call and
 * the cost per example. The output layer's forward runs inside its backward (as on the runtime's last stage),
 * so its forward time is that of the runtime's forward action, which only keeps the input. Measure on the
 * hardware that will train (e.g. inside one Spark task on an executor), and cache the result under
 * {@link #cacheKey}; the profile is Serializable and has a JSON form.
 *
 * <p>Not thread-safe with other ND4J work in the same JVM: the timings would measure the neighbours too.
 */
@io.sparkmp.Internal
public final class LayerProfiler {

    /**
     * How {@link #measure} times layers, part of the cache key: a profile cached on disk by a build that timed
     * them another way (e.g. bare layers without workspaces, about 2x slower) is not reused.
     */
    public static final String METHOD = "one-layer StageSlice, workspaces on";
    /**
     * Fixed seconds of one forward or backward call of a layer in an analytic profile (the default of
     * {@code spark.mp.plan.analyticCallSeconds}): what a layer call costs on the runtime beyond its arithmetic,
     * whatever the micro-batch size: about one call of a tiny layer (arithmetic negligible) through the
     * runtime's one-layer stage on one core with one ND4J thread (MicroBatchCostBenchmark, part 3; the figures
     * and the load they were taken at are in the README's "Planner").
     */
    public static final double ANALYTIC_CALL_SECONDS = 100e-6;
    /** Seed of the profiled layers' random initial weights (their values do not change the times). */
    private static final long PROFILE_SEED = 1;

    private final int sampleMicroBatch;
    private final int warmup;
    private final int repeats;
    private final String hardware;

    private LayerProfiler(Builder b) {
        sampleMicroBatch = b.sampleMicroBatch;
        warmup = b.warmup;
        repeats = b.repeats;
        hardware = b.hardware != null ? b.hardware : UNNAMED_HARDWARE;
    }

    /**
     * Hardware named in the cache key when the builder names none; the Spark side names the executors' (the
     * host's CPU, cores and ND4J backend, {@code spark.HostFacts}, or {@code spark.mp.plan.hardware}).
     */
    public static final String UNNAMED_HARDWARE = "hardware not named";

    /** A new builder (defaults: sample micro-batch 8, 2 warm-up and 5 timed repeats, {@link #UNNAMED_HARDWARE}). */
    public static Builder builder() {
        return new Builder();
    }

    /** The hardware description this profiler keys its cache entries by. */
    public String hardware() {
        return hardware;
    }

    /**
     * The cache key of a measured profile of {@code conf} with this profiler's settings on its hardware:
     * SHA-256 of the configuration JSON, input type, sample size, repeats and {@link #METHOD}, and the hardware
     * description.
     */
    public String cacheKey(MultiLayerConfiguration conf, InputType inputType) {
        return ModelProfile.cacheKey(conf.toJson() + "\ninput=" + inputType + "\nsample=" + sampleMicroBatch
                + "\nrepeats=" + repeats + "\nmethod=" + METHOD, hardware);
    }

    /**
     * Profile with analytic times and {@link #ANALYTIC_CALL_SECONDS} per layer call: see
     * {@link #analytic(MultiLayerConfiguration, InputType, double, double)}.
     */
    public ModelProfile analytic(MultiLayerConfiguration conf, InputType inputType, double flopsPerSecond) {
        return analytic(conf, inputType, flopsPerSecond, ANALYTIC_CALL_SECONDS);
    }

    /**
     * Profile with analytic times: forward FLOPs per example (2 x weights x output positions for dense and
     * convolution layers, one per output element otherwise) divided by {@code flopsPerSecond}; backward twice
     * the forward; plus {@code callSeconds} per call of a layer, forward and backward alike, whatever its
     * micro-batch (what DL4J and ND4J spend per call beyond the arithmetic: without it the planner sees no price
     * in cutting a mini-batch into ever more micro-batches). Builds no network.
     *
     * @param callSeconds fixed seconds of one forward or backward call of a layer, {@code >= 0}
     * @throws IllegalArgumentException when flopsPerSecond is not positive, callSeconds is negative or not
     *     finite, or the configuration has no layers
     */
    public ModelProfile analytic(MultiLayerConfiguration conf, InputType inputType, double flopsPerSecond,
                                 double callSeconds) {
        if (!(flopsPerSecond > 0) || Double.isInfinite(flopsPerSecond)) {
            throw new IllegalArgumentException("flopsPerSecond must be positive and finite, found " + flopsPerSecond);
        }
        if (!(callSeconds >= 0) || Double.isInfinite(callSeconds)) {
            throw new IllegalArgumentException("callSeconds must be finite and >= 0, found " + callSeconds);
        }
        List<LayerProfile> layers = staticProfiles(conf, inputType);
        List<LayerProfile> timed = new ArrayList<>(layers.size());
        for (LayerProfile l : layers) {
            timed.add(l.withFlopTimes(flopsPerSecond, callSeconds));
        }
        return new ModelProfile(timed, inputBytes(conf, inputType), conf.getDataType().name(), updaterName(conf),
                ModelProfile.TimeSource.ANALYTIC, 0, ModelProfile.cacheKey(conf.toJson() + "\ninput=" + inputType,
                "analytic " + flopsPerSecond + " flop/s, " + callSeconds + " s per call"));
    }

    /**
     * Profile with measured times (see the class comment). Holds one layer at a time (with its input and
     * output at the two sample sizes): each layer's stage is freed before the next is built, so a model too
     * large for this JVM profiles as long as its largest layer fits.
     *
     * @throws IllegalArgumentException when the configuration has no layers, has a layer the runtime cannot
     *     run, or the input type does not fit it
     */
    public ModelProfile measure(MultiLayerConfiguration conf, InputType inputType) {
        ModelSlicer.validate(conf);
        List<LayerProfile> layers = staticProfiles(conf, inputType);
        int n = layers.size();
        int[] m = {sampleMicroBatch, 2 * sampleMicroBatch};
        // Every layer is a stage of its own: stage i of the split [0, 1, .., n] is layer i alone, with the
        // preprocessor in front of it, run by the runtime's own StageSlice.
        int[] everyLayer = new int[n + 1];
        for (int i = 0; i <= n; i++) {
            everyLayer[i] = i;
        }
        long[] inputShape = inputType.getShape(false);
        INDArray[] x = new INDArray[m.length];
        Nd4j.getRandom().setSeed(12345);
        for (int k = 0; k < m.length; k++) {
            x[k] = Nd4j.rand(conf.getDataType(), withExamples(m[k], inputShape));
        }
        List<InputType> outputs = conf.getLayerActivationTypes(inputType);
        List<LayerProfile> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            // One layer at a time: each slice and the previous layer's inputs are freed before the next is built.
            StageSlice slice = ModelSlicer.slice(conf, everyLayer, i, PROFILE_SEED, null);
            double[][] t = new double[2][m.length];
            try {
                for (int k = 0; k < m.length; k++) {
                    INDArray labels = slice.isLast() ? oneHotLabels(conf.getDataType(), m[k], outputs.get(i)) : null;
                    double[] fb = time(slice, x[k], labels, m[k]);
                    close(labels);
                    t[0][k] = fb[0];
                    t[1][k] = fb[1];
                    if (!slice.isLast()) {
                        slice.beginStep(0, 0, m[k]);
                        INDArray next = slice.forward(0, x[k], null).dup(); // the next layer's input
                        close(x[k]);
                        x[k] = next;
                    }
                }
            } finally {
                slice.release();
            }
            LayerProfile l = layers.get(i);
            double[] f = line(t[0][0], t[0][1], m[0], m[1]);
            double[] b = line(t[1][0], t[1][1], m[0], m[1]);
            out.add(new LayerProfile(l.name(), l.type(), l.parameters(), l.parameterBytes(), l.gradientBytes(),
                    l.updaterBytes(), l.outputBytesPerExample(), l.keptBytesPerExample(), l.workingBytesPerExample(),
                    l.forwardFlopsPerExample(), f[0], f[1], b[0], b[1]));
        }
        for (INDArray a : x) {
            close(a);
        }
        return new ModelProfile(out, inputBytes(conf, inputType), conf.getDataType().name(), updaterName(conf),
                ModelProfile.TimeSource.MEASURED, m[0], cacheKey(conf, inputType));
    }

    /**
     * Median [forward, backward] seconds of one micro-batch of {@code mb} through a one-layer stage, as the
     * runtime runs it: {@link StageSlice#forward} then {@link StageSlice#backward} on a random output gradient
     * (which adds the parameter gradient to the step's sum), or on the last stage {@link StageSlice#backwardWithLabels},
     * which runs the output layer's forward together with its backward (its forward call only keeps the input).
     */
    private double[] time(StageSlice slice, INDArray input, INDArray labels, int mb) {
        INDArray eps = null;
        double[] f = new double[repeats];
        double[] b = new double[repeats];
        for (int r = -warmup; r < repeats; r++) {
            slice.beginStep(0, 0, mb);
            long s0 = System.nanoTime();
            INDArray y = slice.forward(0, input, null);
            long s1 = System.nanoTime();
            if (labels != null) {
                slice.backwardWithLabels(0, labels, null);
            } else {
                if (eps == null) {
                    eps = Nd4j.rand(y.dataType(), y.shape());
                }
                slice.backward(0, eps);
            }
            long s2 = System.nanoTime();
            if (r >= 0) {
                f[r] = (s1 - s0) / 1e9;
                b[r] = (s2 - s1) / 1e9;
            }
        }
        close(eps);
        return new double[] {median(f), median(b)};
    }

    /**
     * Layers {@code [from, to)} of the model as one stage of the runtime (a {@link StageSlice} that keeps its
     * layers' inputs, as a stage without recomputation) on random input, to be timed step after step: the
     * host-sharing probe times it alone and beside other tasks of the host. A step is what the runtime runs for one
     * mini-batch: {@code microBatches} forwards and backwards of {@code microBatch} examples (weight gradients
     * deferred to the step, as by default) and the optimizer's update. Close it to free the layers.
     *
     * @throws IllegalArgumentException when the range is empty or out of range, or the input type does not fit
     */
    public static StageKernel kernel(MultiLayerConfiguration conf, InputType inputType, int from, int to,
                                     int microBatch, int microBatches) {
        int n = conf.getConfs().size();
        if (from < 0 || to > n || from >= to) {
            throw new IllegalArgumentException("layers [" + from + ", " + to + ") are not a range of 0.." + (n - 1));
        }
        if (microBatch < 1 || microBatches < 1) {
            throw new IllegalArgumentException("microBatch and microBatches must be >= 1, found " + microBatch + " and "
                    + microBatches);
        }
        ModelSlicer.validate(conf);
        List<InputType> outputs = conf.getLayerActivationTypes(inputType);
        java.util.TreeSet<Integer> cuts = new java.util.TreeSet<>(List.of(0, from, to, n));
        int[] boundaries = cuts.stream().mapToInt(Integer::intValue).toArray();
        int stage = cuts.headSet(from).size();
        InputType in = from == 0 ? inputType : outputs.get(from - 1);
        Nd4j.getRandom().setSeed(12345);
        INDArray x = Nd4j.rand(conf.getDataType(), withExamples(microBatch, in.getShape(false)));
        StageSlice slice = ModelSlicer.slice(conf, boundaries, stage, PROFILE_SEED, null, false);
        INDArray labels = slice.isLast() ? oneHotLabels(conf.getDataType(), microBatch, outputs.get(n - 1)) : null;
        INDArray eps = slice.isLast() ? null
                : Nd4j.rand(conf.getDataType(), withExamples(microBatch, outputs.get(to - 1).getShape(false))).muli(1e-3);
        return new StageKernel(slice, x, labels, eps, microBatch, microBatches);
    }

    /** See {@link #kernel}. */
    public static final class StageKernel implements AutoCloseable {
        private final StageSlice slice;
        private final INDArray input;
        private final INDArray labels;
        private final INDArray eps;
        private final int microBatch;
        private final int microBatches;
        private long step;

        private StageKernel(StageSlice slice, INDArray input, INDArray labels, INDArray eps, int microBatch,
                            int microBatches) {
            this.slice = slice;
            this.input = input;
            this.labels = labels;
            this.eps = eps;
            this.microBatch = microBatch;
            this.microBatches = microBatches;
        }

        /** Seconds of one step (see {@link #kernel}). */
        public double step() {
            long t0 = System.nanoTime();
            slice.beginStep(step++, 0, microBatch);
            slice.deferWeightGradients(microBatches);
            for (int m = 0; m < microBatches; m++) {
                slice.forward(m, input, null);
            }
            for (int m = 0; m < microBatches; m++) {
                if (labels != null) {
                    slice.backwardWithLabels(m, labels, null);
                } else {
                    slice.backward(m, eps);
                }
            }
            slice.applyUpdate(microBatch * microBatches);
            return (System.nanoTime() - t0) / 1e9;
        }

        /** Seconds of each step, steps one after another until {@code seconds} have passed and at least {@code min} ran. */
        public double[] stepsFor(double seconds, int min) {
            double[] out = new double[Math.max(16, min)];
            int n = 0;
            long end = System.nanoTime() + (long) (seconds * 1e9);
            while (n < min || System.nanoTime() < end) {
                if (n == out.length) {
                    out = Arrays.copyOf(out, 2 * n);
                }
                out[n++] = step();
            }
            return Arrays.copyOf(out, n);
        }

        @Override
        public void close() {
            slice.release();
            LayerProfiler.close(input);
            LayerProfiler.close(labels);
            LayerProfiler.close(eps);
        }
    }

    private static void close(INDArray a) {
        if (a != null && a.closeable()) {
            a.close();
        }
    }

    private static long[] withExamples(int mb, long[] shape) {
        long[] full = new long[shape.length + 1];
        full[0] = mb;
        System.arraycopy(shape, 0, full, 1, shape.length);
        return full;
    }

    /** Labels of the output layer's shape, every example of class 0 (the loss value does not change the time). */
    private static INDArray oneHotLabels(DataType dt, int mb, InputType outputType) {
        INDArray labels = Nd4j.zeros(dt, withExamples(mb, outputType.getShape(false)));
        labels.get(NDArrayIndex.all(), NDArrayIndex.point(0)).assign(1);
        return labels;
    }

    /** [fixed, perExample] of the line through (m0, y0) and (m1, y1), clamped to non-negative parts. */
    private static double[] line(double y0, double y1, int m0, int m1) {
        double per = (y1 - y0) / (m1 - m0);
        double fixed = y0 - per * m0;
        if (per <= 0) { // noise: no measurable growth with the batch; charge it all per example at m1
            return new double[] {0, Math.max(y0, y1) / m1};
        }
        if (fixed < 0) {
            return new double[] {0, y0 / m0};
        }
        return new double[] {fixed, per};
    }

    /** Per-layer numbers that need no timing: parameters, memory, activation sizes, FLOPs. */
    private static List<LayerProfile> staticProfiles(MultiLayerConfiguration conf, InputType inputType) {
        int n = conf.getConfs().size();
        if (n == 0) {
            throw new IllegalArgumentException("the configuration has no layers");
        }
        DataType dt = conf.getDataType();
        List<LayerProfile> out = new ArrayList<>(n);
        List<String> names = layerNames(conf);
        InputType previous = inputType;
        // Rows per example of the feed-forward layers DL4J runs at every step between sequence layers (its
        // RnnToFeedForwardPreProcessor makes [examples x T, size] of [examples, size, T]): they hold T rows per
        // example, and the FeedForwardToRnnPreProcessor after them gives back a sequence whose length DL4J's own
        // types forget, so the types are followed here with the length kept.
        long steps = 1;
        boolean pooled = false;
        for (int i = 0; i < n; i++) {
            NeuralNetConfiguration c = conf.getConf(i);
            org.deeplearning4j.nn.conf.layers.Layer layer = c.getLayer();
            InputPreProcessor pp = conf.getInputPreProcess(i);
            InputType in = pp == null ? previous : pp.getOutputType(previous);
            if (pooled) {
                steps = 1; // a global pooling's output is one vector per example, whatever its type says
            } else if (pp instanceof org.deeplearning4j.nn.conf.preprocessor.RnnToFeedForwardPreProcessor
                    && previous instanceof InputType.InputTypeRecurrent r && r.getTimeSeriesLength() > 0) {
                steps = r.getTimeSeriesLength();
            } else if (in instanceof InputType.InputTypeRecurrent r && r.getTimeSeriesLength() <= 0 && steps > 1) {
                in = InputType.recurrent(r.getSize(), steps, r.getFormat());
                steps = 1;
            } else if (!(in instanceof InputType.InputTypeFeedForward)) {
                steps = 1;
            }
            InputType outType = layer.getOutputType(i, in);
            pooled = layer instanceof org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer
                    && in instanceof InputType.InputTypeRecurrent;
            // DL4J's type of a global pooling over a sequence is the sequence (its preprocessors expect that), but
            // the layer's output is one vector per example: that is what it holds and what crosses a cut after it.
            InputType held = pooled ? InputType.feedForward(((InputType.InputTypeRecurrent) in).getSize()) : outType;
            out.add(rows(layerProfile(names.get(i), c, in, held, dt), steps));
            previous = outType;
        }
        return out;
    }

    /**
     * The profile's layer names: the configured name, else {@code layer<i>}; a repeated name gets {@code _<i>}
     * (the names a manual split by names refers to).
     */
    public static List<String> layerNames(MultiLayerConfiguration conf) {
        List<String> out = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < conf.getConfs().size(); i++) {
            String n = conf.getConf(i).getLayer().getLayerName();
            String name = n == null || n.isBlank() ? "layer" + i : n;
            if (!seen.add(name)) {
                name = name + "_" + i;
                seen.add(name);
            }
            out.add(name);
        }
        return out;
    }

    /** {@code l} with its per-example bytes and FLOPs for {@code rows} rows per example (a layer run at every step). */
    private static LayerProfile rows(LayerProfile l, long rows) {
        if (rows == 1) {
            return l;
        }
        return new LayerProfile(l.name(), l.type(), l.parameters(), l.parameterBytes(), l.gradientBytes(),
                l.updaterBytes(), l.outputBytesPerExample() * rows, l.keptBytesPerExample() * rows,
                l.workingBytesPerExample() * rows, l.forwardFlopsPerExample() * rows, 0, 0, 0, 0);
    }

    /**
     * The numbers of one layer that need no timing, given its input type (after any preprocessor) and output type:
     * parameters and their bytes, gradient and updater bytes, output bytes (what crosses a cut after it), the input
     * plus per-example cache kept for backward, working memory and the input gradient, FLOPs.
     */
    static LayerProfile layerProfile(String name, NeuralNetConfiguration c, InputType in, InputType outType, DataType dt) {
        org.deeplearning4j.nn.conf.layers.Layer layer = c.getLayer();
        int bytes = dt.width();
        LayerMemoryReport r = layer.getMemoryReport(in);
        long params = layer.initializer().numParams(c);
        long outBytes = outType.arrayElementsPerExample() * bytes;
        long paramBytes;
        long gradBytes;
        long updaterBytes;
        long cached;
        long workingVariable;
        if (r.getCacheModeMemVariablePerEx() == null) {
            // DL4J's SameDiff layers (the attention layers) return an empty report, whose getMemoryBytes throws:
            // parameters, gradients and updater state from the parameter count, the output as working memory.
            paramBytes = params * bytes;
            gradBytes = params * bytes;
            updaterBytes = params == 0 ? 0 : layer.getUpdaterByParam(layer.initializer().paramKeys(layer).get(0))
                    .stateSize(params) * bytes;
            cached = 0;
            workingVariable = outBytes;
        } else {
            paramBytes = mem(r, MemoryType.PARAMETERS, dt);
            gradBytes = mem(r, MemoryType.PARAMATER_GRADIENTS, dt);
            updaterBytes = mem(r, MemoryType.UPDATER_STATE, dt);
            cached = mem(r, MemoryType.CACHED_MEMORY_VARIABLE, dt);
            workingVariable = mem(r, MemoryType.WORKING_MEMORY_VARIABLE, dt);
        }
        // Kept until backward: the layer's input (DL4J layers keep it) plus any per-example cache, and for a plain
        // dense layer its pre-activation (the stage's backward reads it instead of forming it again).
        long kept = in.arrayElementsPerExample() * bytes + cached
                + (DeferredWeightGradients.keepsPreActivation(layer) ? outBytes : 0);
        // Transient: working memory and the input gradient produced by backward (more for convolutions).
        long working = workingBytesPerExample(layer, in, outType, workingVariable, bytes);
        return new LayerProfile(name, layer.getClass().getSimpleName(), params, paramBytes, gradBytes, updaterBytes,
                outBytes, kept, working, flops(layer, params, outType) + attentionFlops(layer, params, in), 0, 0, 0, 0);
    }

    /**
     * Bytes per example a layer's backward needs at once beyond what the stage keeps for it. In general DL4J's
     * memory report's working memory plus the input gradient the backward returns. DL4J's report undercounts
     * two layer types, measured against the resident bytes of a training stage ({@code BatchMemoryTruth}):
     * <ul>
     *   <li>{@code ConvolutionLayer} (2-D, DL4J's built-in im2col path): the report counts only the two column
     *       buffers (im2col of the input, and the column-space input gradient before col2im), but the backward
     *       also holds, each of the output's size, the pre-activation it recomputes, the activation, the
     *       gradient arriving at its output and the delta (that gradient through the activation's derivative):
     *       4 x output + 2 x columns + the input gradient;</li>
     *   <li>{@code SubsamplingLayer} (2-D pooling): the gradient arriving at its output as well (report +
     *       input gradient + output).</li>
     * </ul>
     */
    static long workingBytesPerExample(org.deeplearning4j.nn.conf.layers.Layer layer, InputType in, InputType out,
                                       long reportedWorkingBytes, int bytesPerElement) {
        long inBytes = in.arrayElementsPerExample() * bytesPerElement;
        long outBytes = out.arrayElementsPerExample() * bytesPerElement;
        if (layer.getClass() == ConvolutionLayer.class && in instanceof InputType.InputTypeConvolutional c
                && out instanceof InputType.InputTypeConvolutional o) {
            int[] k = ((ConvolutionLayer) layer).getKernelSize();
            long columns = c.getChannels() * k[0] * k[1] * o.getHeight() * o.getWidth() * bytesPerElement;
            return 4 * outBytes + 2 * columns + inBytes;
        }
        if (layer.getClass() == SubsamplingLayer.class) {
            return reportedWorkingBytes + inBytes + outBytes;
        }
        return reportedWorkingBytes + inBytes + attentionBytesPerExample(layer, in, bytesPerElement);
    }

    /**
     * Copies of each attention array a training step holds at once: the forward's, the one the backward op
     * recomputes (DL4J's SameDiff layers run the graph again inside their backward), and its gradient.
     */
    static final int ATTENTION_COPIES = 3;

    /**
     * Bytes per example of the attention arrays of DL4J's SameDiff attention layers, which DL4J's memory report
     * leaves out (0 for other layers, or when the sequence length is not known from the input type). With H heads of
     * size d (H = 1, d = nIn without an input projection), T steps, each array {@link #ATTENTION_COPIES} times:
     * <ul>
     *   <li>SelfAttentionLayer: the scores and their softmax, H x T x T each, and the four projections (queries,
     *       keys, values, the attention output), H x d x T each;</li>
     *   <li>LearnedSelfAttentionLayer: the same with nQueries in place of the T queries;</li>
     *   <li>RecurrentAttentionLayer: it attends step by step, and each step scores all T steps (scores and softmax,
     *       H x T) and projects the keys and values of all T steps again, with the softmax-weighted values before
     *       their sum (H x d x T each): over the T steps 2 x H x T x T + 3 x H x d x T x T.</li>
     * </ul>
     * Checked against the resident bytes of a training stage (FLOAT, 4 heads of 8, {@code BatchMemoryTruth attention}
     * and {@code recurrent-attention}; the figures are in the README's memory section).
     */
    static long attentionBytesPerExample(org.deeplearning4j.nn.conf.layers.Layer layer, InputType in, int bytesPerElement) {
        if (!(in instanceof InputType.InputTypeRecurrent r) || r.getTimeSeriesLength() <= 0) {
            return 0;
        }
        long t = r.getTimeSeriesLength();
        long heads;
        long head;
        long queries;
        boolean recurrent = false;
        if (layer instanceof org.deeplearning4j.nn.conf.layers.SelfAttentionLayer a) {
            heads = a.isProjectInput() ? a.getNHeads() : 1;
            head = a.isProjectInput() ? a.getHeadSize() : r.getSize();
            queries = t;
        } else if (layer instanceof org.deeplearning4j.nn.conf.layers.LearnedSelfAttentionLayer a) {
            heads = a.isProjectInput() ? a.getNHeads() : 1;
            head = a.isProjectInput() ? a.getHeadSize() : r.getSize();
            queries = a.getNQueries();
        } else if (layer instanceof org.deeplearning4j.nn.conf.layers.RecurrentAttentionLayer a) {
            heads = a.isProjectInput() ? a.getNHeads() : 1;
            head = a.isProjectInput() ? a.getHeadSize() : r.getSize();
            queries = t;
            recurrent = true;
        } else {
            return 0;
        }
        long scores = 2 * heads * queries * t;
        long projections = recurrent ? 3 * heads * head * t * t : 4 * heads * head * t;
        return (long) ATTENTION_COPIES * (scores + projections) * bytesPerElement;
    }

    private static long mem(LayerMemoryReport r, MemoryType t, DataType dt) {
        return r.getMemoryBytes(t, 1, MemoryUseMode.TRAINING, CacheMode.NONE, dt);
    }

    /** Forward FLOPs per example: 2 x weights x output positions for dense/conv, one per output element otherwise. */
    private static double flops(org.deeplearning4j.nn.conf.layers.Layer layer, long params, InputType out) {
        long outElems = out.arrayElementsPerExample();
        if (layer instanceof FeedForwardLayer ff && ff.getNOut() > 0 && params > 0) {
            return 2.0 * params * ((double) outElems / ff.getNOut());
        }
        return outElems;
    }

    /**
     * Forward FLOPs per example of an attention layer beyond one per output element: its projections (2 x weights per
     * step; RecurrentAttentionLayer projects all T steps again at each step) and the scores and weighted sums
     * (2 x 2 x H x queries x T x d); 0 for other layers or an unknown length.
     */
    static double attentionFlops(org.deeplearning4j.nn.conf.layers.Layer layer, long params, InputType in) {
        if (!(in instanceof InputType.InputTypeRecurrent r) || r.getTimeSeriesLength() <= 0) {
            return 0;
        }
        double t = r.getTimeSeriesLength();
        if (layer instanceof org.deeplearning4j.nn.conf.layers.SelfAttentionLayer a) {
            double heads = a.isProjectInput() ? a.getNHeads() : 1;
            double d = a.isProjectInput() ? a.getHeadSize() : r.getSize();
            return 2.0 * params * t + 4 * heads * t * t * d;
        }
        if (layer instanceof org.deeplearning4j.nn.conf.layers.LearnedSelfAttentionLayer a) {
            double heads = a.isProjectInput() ? a.getNHeads() : 1;
            double d = a.isProjectInput() ? a.getHeadSize() : r.getSize();
            return 2.0 * params * t + 4 * heads * a.getNQueries() * t * d;
        }
        if (layer instanceof org.deeplearning4j.nn.conf.layers.RecurrentAttentionLayer a) {
            double heads = a.isProjectInput() ? a.getNHeads() : 1;
            double d = a.isProjectInput() ? a.getHeadSize() : r.getSize();
            return 2.0 * params * t * t + 4 * heads * t * t * d;
        }
        return 0;
    }

    private static long inputBytes(MultiLayerConfiguration conf, InputType inputType) {
        return inputType.arrayElementsPerExample() * conf.getDataType().width();
    }

    private static String updaterName(MultiLayerConfiguration conf) {
        return updaterName(conf.getConfs());
    }

    /** The updater's class name of the first layer that has one, or "". */
    static String updaterName(java.util.Collection<NeuralNetConfiguration> confs) {
        for (NeuralNetConfiguration c : confs) {
            if (c.getLayer() instanceof BaseLayer bl && bl.getIUpdater() != null) {
                return bl.getIUpdater().getClass().getSimpleName();
            }
        }
        return "";
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }


    /** Settings of a {@link LayerProfiler}; each may be set once. */
    public static final class Builder {
        private int sampleMicroBatch = 8;
        private int warmup = 2;
        private int repeats = 5;
        private String hardware;
        private final Set<String> set = new HashSet<>();

        private Builder() {
        }

        private void once(String what) {
            if (!set.add(what)) {
                throw new IllegalStateException(what + " was already set");
            }
        }

        /** Examples per timed call (the second size timed is twice this); positive. */
        public Builder sampleMicroBatch(int m) {
            once("sampleMicroBatch");
            if (m <= 0) {
                throw new IllegalArgumentException("sampleMicroBatch must be positive, found " + m);
            }
            sampleMicroBatch = m;
            return this;
        }

        /** Untimed calls per layer before timing; &ge; 0. */
        public Builder warmup(int n) {
            once("warmup");
            if (n < 0) {
                throw new IllegalArgumentException("warmup must be >= 0, found " + n);
            }
            warmup = n;
            return this;
        }

        /** Timed calls per layer and size (median taken); positive. */
        public Builder repeats(int n) {
            once("repeats");
            if (n <= 0) {
                throw new IllegalArgumentException("repeats must be positive, found " + n);
            }
            repeats = n;
            return this;
        }

        /** Hardware description for the cache key (default {@link #UNNAMED_HARDWARE}); e.g. a GPU model. */
        public Builder hardware(String description) {
            once("hardware");
            if (description == null || description.isBlank()) {
                throw new IllegalArgumentException("hardware description must not be blank");
            }
            hardware = description;
            return this;
        }

        public LayerProfiler build() {
            return new LayerProfiler(this);
        }
    }
}
