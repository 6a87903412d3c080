package io.sparkmp.model;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.MaskState;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.deeplearning4j.nn.updater.LayerUpdater;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * One pipeline stage: layers {@code [fromLayer, toLayer)} of a model, run one micro-batch at a time.
 *
 * <p>Per step: {@link #beginStep}, then for each micro-batch a {@link #forward} and later a
 * {@link #backward} (or {@link #backwardWithLabels} on the last stage) in any order the schedule wants,
 * then {@link #applyUpdate} once. Gradients of the micro-batches are summed (DL4J gradients are sums over
 * examples) and handed to the DL4J updater with the full mini-batch size, so L1/L2, weight decay,
 * gradient normalization and every updater behave as in {@code MultiLayerNetwork.fit}.
 *
 * <p>Memory/compute trade-off, chosen per stage ({@link #recomputes()}): with recomputation a stage keeps only
 * the input (and features mask) of each micro-batch in flight, and a backward whose micro-batch is not the one
 * the layers last saw forward re-runs that forward first; dropout masks are keyed by example, so the
 * recomputed forward is identical. Without it (the activation stash) the stage keeps every layer's input of
 * each micro-batch in flight and, before such a backward, hands them back to the layers instead of running the
 * forward again (DL4J's backward of a dense or convolution layer starts from its input). A stage with a
 * BatchNormalization layer always recomputes: that layer's backward reads statistics its forward left in the
 * layer object. The last stage defers its forward to the backward, where DL4J computes both together.
 *
 * <p>Memory of the gradient: the step's gradient lives in DL4J's own gradient view of the stage (what the updater
 * reads), as in {@code fit}. The first micro-batch's backward writes there directly, so with one micro-batch
 * per step the stage holds no more than DL4J's own {@code fit} (parameters, gradients, updater state). For the
 * second and later micro-batches of a step every layer with parameters writes its gradient into one scratch
 * buffer of the largest layer's size instead, and a {@link GradientTap} after that layer's backward adds it to
 * the layer's part of the step's gradient; before the update the layers point at their own parts again (DL4J's
 * gradient normalization reads them there). A step of M micro-batches so costs one layer's gradient more than
 * {@code fit}, not a second copy of the stage's. The sum is formed in micro-batch order.
 *
 * <p>Fused update (steps of one micro-batch, {@link #fusesUpdate()}): there is no gradient of the stage's size at
 * all. Every layer writes its gradient into the layer-sized scratch buffer, and its tap applies the optimizer to
 * that layer at once (its own DL4J {@code LayerUpdater}, the same update rules per parameter as the whole-network
 * updater, so the result is the same) before the layer below runs its backward, which needs only the epsilon
 * the layer already returned. A stage then holds parameters, updater state and one layer's gradient: with
 * Adam 12 bytes per parameter instead of {@code fit}'s 16. A non-finite gradient is found per layer before
 * that layer's update; the layers after it (towards the output) have been updated by then.
 *
 * <p>Not thread-safe: one thread drives a stage.
 */
@io.sparkmp.Internal
public final class StageSlice {

    private static final LayerWorkspaceMgr NO_WS = LayerWorkspaceMgr.noWorkspaces();

    private final int stage;
    private final int numStages;
    private final int fromLayer;
    private final int toLayer;
    private final SliceNetwork net;
    private final boolean recompute;
    /** Where the layers' backward writes from a step's second micro-batch on; made at the first such backward. */
    private INDArray gradientScratch;
    /** Per local layer: its part of the step's gradient (DL4J's gradient view); set with {@link #gradientScratch}. */
    private INDArray[] stepGradients;
    /** Whether the layers now write into {@link #gradientScratch} (else into their parts of the step's gradient). */
    private boolean intoScratch;
    /** Whether each layer is updated right after its backward (steps of one micro-batch; see the class comment). */
    private final boolean fusedUpdate;
    /** Fused update: per local layer with parameters its own updater, made on first need; else null. */
    private LayerUpdater[] layerUpdaters;
    /** Fused update: per local layer with parameters the Gradient naming its parts of the scratch buffer. */
    private Gradient[] layerGradients;
    /** Fused update: layers updated in the current step. */
    private int layersUpdated;
    /** Per local layer: the dense layer that can defer its weight gradient to the step's end, or null. */
    private final DeferredDenseLayer[] deferrable;
    /** Per micro-batch in flight (stash mode): the input of each layer, as the forward fed it. */
    private final Map<Integer, INDArray[]> stash = new HashMap<>();
    /** This step's consumer of each layer's finished gradient ({@link #reduceEachLayerWhenDone}), or null. */
    private java.util.function.ObjIntConsumer<INDArray> layerDone;
    private int layerDoneAfter;
    private final List<INDArray> runningStatSums = new ArrayList<>();
    private final Map<Integer, INDArray[]> inputs = new HashMap<>();
    /** Preprocessors and layers before this stage: they change the features mask on its way here. */
    private final MaskFlow upstream;
    /** Read by every dropout of this stage's layers (wrapped ones included). */
    private final ExampleSeededDropout.Context dropoutContext;

    private Gradient gradientLayout;
    private long step = -1;
    private int epoch;
    private int microBatchSize;
    /** Index in the whole mini-batch of this replica's first example (0 without replicas): keys the dropout masks. */
    private long firstExample;
    private int microBatches;
    private int forwardStateOf = -1;
    private double lossSum;
    /**
     * Whether the slice starts with FrozenLayers (LayerSupport#placement: they are a prefix of the model), and
     * whether it holds nothing else. DL4J's backward stops at the first FrozenLayer from the top, as in its own fit:
     * such a stage sends zeros back (the stages below are frozen too), and an all-frozen stage runs no backward
     * and no update (its parameters never change).
     */
    private final boolean hasFrozen;
    private final boolean allFrozen;

    StageSlice(int stage, int numStages, int fromLayer, int toLayer, SliceNetwork net, MaskFlow upstream,
               ExampleSeededDropout.Context dropoutContext, boolean recompute, boolean fusedUpdate) {
        this.upstream = upstream;
        this.dropoutContext = dropoutContext;
        this.stage = stage;
        this.numStages = numStages;
        this.fromLayer = fromLayer;
        this.toLayer = toLayer;
        this.net = net;
        long n = net.numParams();
        int frozen = 0;
        while (frozen < net.getnLayers()
                && net.getLayer(frozen) instanceof org.deeplearning4j.nn.layers.FrozenLayer) {
            frozen++;
        }
        this.hasFrozen = frozen > 0;
        net.startsFrozen = hasFrozen;
        this.allFrozen = frozen == net.getnLayers();
        this.fusedUpdate = fusedUpdate && n > 0 && !allFrozen;
        // Installed with a fused update too: there they only keep pre-activations (one micro-batch, nothing to defer).
        this.deferrable = DeferredWeightGradients.install(net);
        if (this.fusedUpdate) {
            makeFusedGradient();
        } else if (n > 0) {
            net.initGradientsView();
        }
        this.recompute = recompute || hasForwardState(net);
        keepPreActivations(true);
        InputPreProcessor first = net.getLayerWiseConfigurations().getInputPreProcess(0);
        if (first instanceof GradientTap tap) {
            first = tap.inner();
        }
        if (fromLayer == 0 && deferrable.length > 0 && deferrable[0] != null && first == null) {
            // The model's first layer: nothing reads the gradient of the model's input (stage 0 sends none).
            deferrable[0].skipInputGradient();
        }
        if (!this.recompute) {
            for (int i = 0; i < net.getnLayers(); i++) {
                if (net.getLayer(i).conf().getLayer().getIDropout() != null) {
                    // DL4J applies dropout in place when allowed: the stash keeps the input before the mask.
                    net.getLayer(i).allowInputModification(false);
                }
            }
        }
    }

    /**
     * Whether a layer's backward reads state its forward left in the layer object beyond its input, or is not known
     * to read only its input ({@link LayerSupport#needsRecompute}).
     */
    static boolean hasForwardState(MultiLayerNetwork net) {
        for (int i = 0; i < net.getnLayers(); i++) {
            // The configuration's layer: a wrapper's runtime layer reports the wrapped layer's configuration.
            if (LayerSupport.needsRecompute(net.getLayerWiseConfigurations().getConf(i).getLayer())) {
                return true;
            }
        }
        return false;
    }

    /** Whether this stage re-runs a micro-batch's forward before its backward (else it keeps the layer inputs). */
    public boolean recomputes() {
        return recompute;
    }

    /** Whether each layer is updated as soon as its backward is done (no gradient of the stage's size). */
    public boolean fusesUpdate() {
        return fusedUpdate;
    }

    /** Parameters of this stage's largest layer: the size of its gradient scratch buffer. */
    private long largestLayerParameters() {
        long largest = 0;
        for (int i = 0; i < net.getnLayers(); i++) {
            NeuralNetConfiguration c = net.getLayer(i).conf();
            largest = Math.max(largest, c.getLayer().initializer().numParams(c));
        }
        return largest;
    }

    /** Fused update: the layer-sized scratch buffer as the network's gradient array, and a tap after each layer. */
    private void makeFusedGradient() {
        int n = net.getnLayers();
        long largest = largestLayerParameters();
        gradientScratch = Nd4j.create(net.params().dataType(), new long[] {1, largest}, 'f');
        net.useGradientArray(gradientScratch);
        INDArray flat = gradientScratch.reshape(largest);
        layerGradients = new Gradient[n];
        Map<Integer, InputPreProcessor> preprocessors = net.getLayerWiseConfigurations().getInputPreProcessors();
        for (int i = 0; i < n; i++) {
            Layer layer = net.getLayer(i);
            NeuralNetConfiguration c = layer.conf();
            long len = c.getLayer().initializer().numParams(c);
            if (len == 0 || layer instanceof org.deeplearning4j.nn.layers.FrozenLayer) {
                continue; // a frozen layer is never back-propagated nor updated (DL4J's backward stops there)
            }
            INDArray view = flat.get(NDArrayIndex.interval(0, len));
            layer.setBackpropGradientsViewArray(view);
            Gradient g = new DefaultGradient(view);
            for (Map.Entry<String, INDArray> e : StageLayers.gradientsFromFlattened(c, view).entrySet()) {
                g.setGradientFor(e.getKey(), e.getValue());
            }
            layerGradients[i] = g;
            preprocessors.put(i, new GradientTap(preprocessors.get(i), this::updateLayer, i));
        }
    }

    /** Fused update: the layers' own updaters (state included), made outside any workspace on first need. */
    private LayerUpdater[] layerUpdaters() {
        if (layerUpdaters == null) {
            LayerUpdater[] u = new LayerUpdater[net.getnLayers()];
            try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
                for (int i = 0; i < u.length; i++) {
                    if (layerGradients[i] != null) {
                        u[i] = new LayerUpdater(net.getLayer(i), null);
                    }
                }
            }
            layerUpdaters = u;
        }
        return layerUpdaters;
    }

    private List<LayerUpdater> presentLayerUpdaters() {
        List<LayerUpdater> out = new ArrayList<>();
        for (LayerUpdater u : layerUpdaters()) {
            if (u != null) {
                out.add(u);
            }
        }
        return out;
    }

    /**
     * The tap after layer {@code i}'s backward in a fused stage: the layer's gradient (in the scratch buffer) is
     * checked, turned into its update by the layer's updater and applied, as {@link #applyUpdate} does for a
     * whole stage. The output layer's loss is taken first, while its parameters are those of the forward.
     */
    private void updateLayer(int i) {
        if (isLast() && i == net.getnLayers() - 1) {
            net.takeLossNow();
        }
        Layer layer = net.getLayer(i);
        INDArray gradient = layerGradients[i].gradient();
        try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            if (!Double.isFinite(gradient.sumNumber().doubleValue())) {
                throw nonFinite("layer " + (fromLayer + i) + " (" + layer.conf().getLayer().getClass().getSimpleName() + ")");
            }
            layerUpdaters()[i].update(layerGradients[i], Math.toIntExact(step), epoch, microBatchSize, NO_WS);
            INDArray params = layer.params();
            params.subi(gradient.reshape(params.shape()));
            layer.applyConstraints(Math.toIntExact(step), epoch);
        }
        layersUpdated++;
    }

    /**
     * Makes the scratch buffer of the largest layer's size and puts a tap after each layer's backward that adds
     * the layer's gradient from there to its part of DL4J's gradient view (see the class comment). Also finds the
     * BatchNormalization running-statistic entries of the view, which are averaged, not summed.
     */
    private void makeGradientScratch() {
        INDArray flat = net.getFlattenedGradients();
        int n = net.getnLayers();
        stepGradients = new INDArray[n];
        long largest = largestLayerParameters();
        gradientScratch = Nd4j.create(flat.dataType(), new long[] {1, largest}, 'f');
        Map<Integer, InputPreProcessor> preprocessors = net.getLayerWiseConfigurations().getInputPreProcessors();
        for (int i = 0; i < n; i++) {
            Layer layer = net.getLayer(i);
            NeuralNetConfiguration c = layer.conf();
            long len = c.getLayer().initializer().numParams(c);
            if (len == 0) {
                continue;
            }
            stepGradients[i] = layer.getGradientsViewArray();
            if (c.getLayer() instanceof BatchNormalization) {
                Map<String, INDArray> byName = c.getLayer().initializer().getGradientsFromFlattened(c, stepGradients[i]);
                for (String key : List.of(BatchNormalizationParamInitializer.GLOBAL_MEAN,
                        BatchNormalizationParamInitializer.GLOBAL_VAR, BatchNormalizationParamInitializer.GLOBAL_LOG_STD)) {
                    if (byName.containsKey(key)) {
                        runningStatSums.add(byName.get(key));
                    }
                }
            }
            preprocessors.put(i, new GradientTap(preprocessors.get(i), this::addLayerGradient, i));
        }
    }

    /** Points the layers' gradients at the scratch buffer ({@code true}) or at their parts of the step's gradient. */
    private void writeIntoScratch(boolean scratch) {
        for (int i = 0; i < stepGradients.length; i++) {
            if (stepGradients[i] != null) {
                net.getLayer(i).setBackpropGradientsViewArray(!scratch ? stepGradients[i]
                        : gradientScratch.get(NDArrayIndex.interval(0, 0, true), NDArrayIndex.interval(0, stepGradients[i].length()))
                                .reshape(stepGradients[i].shape())); // the layer's view has its shape (rank 1)
            }
        }
        intoScratch = scratch;
    }

    /** The tap after layer {@code i}'s backward: its gradient, when in the scratch buffer, into the step's sum. */
    private void addLayerGradient(int i) {
        boolean deferred = DeferredWeightGradients.deferring(deferrable, i);
        if (intoScratch && !deferred) {
            stepGradients[i].addi(net.getLayer(i).getGradientsViewArray());
        }
        if (layerDone != null && microBatches == layerDoneAfter - 1) {
            if (deferred) {
                deferrable[i].completeInto(stepGradients[i]); // the step's one weight-gradient product
            }
            layerDone.accept(stepGradients[i], fromLayer + i); // its last backward of the step: the sum is whole
        }
    }

    /**
     * For this step: hands each layer's whole step gradient (its part of DL4J's gradient view, summed over the
     * step's micro-batches) to {@code done}, with the layer's global index, as soon as that layer's backward of the
     * step's last micro-batch ({@code microBatchesInStep} in all) is done, while the layers below it still run
     * theirs. For the replicas' all-reduce overlapped with the backward: {@code done} may change the gradient in
     * place (on another thread) until the update; nothing in this stage writes that layer's gradient again in the
     * step. Layers without trainable parameters, and frozen ones, are never handed over. Call after
     * {@link #beginStep}; it lasts until the next.
     *
     * @throws IllegalStateException if the stage fuses its update into the backward (no whole gradient exists)
     */
    public void reduceEachLayerWhenDone(int microBatchesInStep, java.util.function.ObjIntConsumer<INDArray> done) {
        requireStep();
        if (fusedUpdate) {
            throw new IllegalStateException("stage " + stage + " updates each layer right after its backward: its "
                    + "step's gradient is never whole, so it cannot be summed across replicas");
        }
        if (microBatchesInStep <= 0) {
            throw new IllegalArgumentException("microBatchesInStep must be positive, found " + microBatchesInStep);
        }
        if (allFrozen || net.numParams() == 0) {
            return;
        }
        if (gradientScratch == null) {
            makeGradientScratch(); // the taps after each layer's backward (the scratch itself is used from M = 2 on)
        }
        layerDone = done;
        layerDoneAfter = microBatchesInStep;
    }

    /**
     * For this step of {@code microBatchesInStep} micro-batches: the stage's plain dense layers form their weight
     * and bias gradients once, from all micro-batches' rows, instead of once per micro-batch (see
     * {@link DeferredDenseLayer}); the step's gradient is the same sum, formed as {@code fit} forms it. It costs a
     * copy of each such layer's input and pre-activation gradient for the whole step until the last backward
     * ({@link DeferredWeightGradients#extraBytes}). A stage that fuses its update, or a step of one micro-batch,
     * does not defer. Call after {@link #beginStep}; it lasts until the next.
     *
     * @return the number of layers that defer in this step
     */
    public int deferWeightGradients(int microBatchesInStep) {
        requireStep();
        if (microBatchesInStep <= 0) {
            throw new IllegalArgumentException("microBatchesInStep must be positive, found " + microBatchesInStep);
        }
        if (microBatches > 0) {
            throw new IllegalStateException("stage " + stage + ": weight gradients deferred after a backward of step " + step);
        }
        return microBatchesInStep < 2 || fusedUpdate ? 0 : DeferredWeightGradients.begin(deferrable, microBatchesInStep);
    }

    /** Weight-gradient products the dense layer {@code localLayer} formed so far (tests: one per step when deferred). */
    long weightGradientProducts(int localLayer) {
        return deferrable.length > localLayer && deferrable[localLayer] != null ? deferrable[localLayer].weightProducts() : -1;
    }

    /** Backwards of the dense layer {@code localLayer} that read its forward's kept pre-activation (tests). */
    long keptPreActivationReads(int localLayer) {
        return deferrable.length > localLayer && deferrable[localLayer] != null ? deferrable[localLayer].keptZReads() : -1;
    }

    /** Turns the kept pre-activations on (the stage does at construction) or off (every backward forms z again, as DL4J does; tests). */
    void keepPreActivations(boolean keep) {
        DeferredWeightGradients.keepPreActivations(deferrable, !keep ? 0 : recompute ? 1 : Integer.MAX_VALUE);
    }

    /** Forms the deferred layers' weight gradients of the step in their parts of the step's gradient. */
    private void completeDeferred() {
        for (int i = 0; i < deferrable.length; i++) {
            if (DeferredWeightGradients.deferring(deferrable, i)) {
                INDArray part = stepGradients != null && stepGradients[i] != null ? stepGradients[i]
                        : net.getLayer(i).getGradientsViewArray();
                deferrable[i].completeInto(part);
            }
        }
    }

    /** Pipeline stage index. */
    public int stage() {
        return stage;
    }

    /** First layer (global index) of this stage. */
    public int fromLayer() {
        return fromLayer;
    }

    /** One past the last layer (global index) of this stage. */
    public int toLayer() {
        return toLayer;
    }

    /** Whether this stage holds the output layer. */
    public boolean isLast() {
        return stage == numStages - 1;
    }

    /** Number of parameters of this stage. */
    public long numParams() {
        return net.numParams();
    }

    /**
     * Starts optimizer step {@code step}: clears the gradient sums and the kept inputs.
     *
     * @param step global step, which is also DL4J's iteration count (Adam bias correction, schedules)
     * @param epoch epoch count (epoch-based schedules)
     * @param microBatchSize examples per micro-batch (the same for every micro-batch of the step)
     */
    public void beginStep(long step, int epoch, int microBatchSize) {
        beginStep(step, epoch, microBatchSize, 0);
    }

    /**
     * As {@link #beginStep(long, int, int)} for a data-parallel replica whose share of the mini-batch starts at
     * example {@code firstExample}: its dropout masks are those of the same examples in the whole mini-batch.
     */
    public void beginStep(long step, int epoch, int microBatchSize, long firstExample) {
        if (microBatchSize <= 0) {
            throw new IllegalArgumentException("microBatchSize must be positive, found " + microBatchSize);
        }
        if (firstExample < 0) {
            throw new IllegalArgumentException("firstExample must be >= 0, found " + firstExample);
        }
        this.firstExample = firstExample;
        this.step = step;
        this.epoch = epoch;
        this.microBatchSize = microBatchSize;
        this.microBatches = 0;
        this.layersUpdated = 0;
        this.layerDone = null;
        this.lossSum = 0;
        this.forwardStateOf = -1;
        if (intoScratch) {
            writeIntoScratch(false); // a step that ended without its update: the next one starts in the view
        }
        DeferredWeightGradients.stop(deferrable);
        inputs.clear();
        stash.clear();
        net.setIterationCount(Math.toIntExact(step));
        net.setEpochCount(epoch);
        net.syncCounts();
        net.pinMiniBatchSize(microBatchSize);
    }

    /**
     * Forward of micro-batch {@code microBatch}. Keeps {@code input} (do not modify it afterwards) for the
     * backward.
     *
     * @param featuresMask per-time-step features mask (RNN) or null
     * @return this stage's output activations, or null on the last stage (its forward runs with the backward)
     */
    public INDArray forward(int microBatch, INDArray input, INDArray featuresMask) {
        requireStep();
        if (inputs.containsKey(microBatch)) {
            throw new IllegalStateException("stage " + stage + ": micro-batch " + microBatch + " forwarded twice in step " + step);
        }
        inputs.put(microBatch, new INDArray[] {indexInput(input), featuresMask});
        if (isLast()) {
            return null;
        }
        List<INDArray> acts = runForwardActivations(microBatch);
        if (!recompute) {
            INDArray[] kept = new INDArray[net.getnLayers()];
            for (int i = 0; i < kept.length; i++) {
                // A layer with dropout holds its input after the mask: keep the input before it (the previous
                // layer's output), so the backward applies the same mask once, as after a recomputed forward.
                kept[i] = net.getLayer(i).conf().getLayer().getIDropout() != null ? acts.get(i) : net.getLayer(i).input();
            }
            stash.put(microBatch, kept);
        }
        INDArray out = acts.get(acts.size() - 1);
        return out;
    }

    /**
     * The input as a stage that starts with an EmbeddingSequenceLayer must hand it over: {@code [examples, T]}, C order,
     * not a view. DL4J's layer makes such a copy itself otherwise, of an {@code [examples, 1, T]} input (a view once
     * reshaped) for one, in the INPUT workspace; inside {@code fit} that workspace is open, but a stage's backward runs
     * apart from its forward and failed with "Workspace WS_ALL_LAYERS_ACT for array type INPUT is not open". The
     * indices are unchanged.
     */
    private INDArray indexInput(INDArray input) {
        if (fromLayer > 0 || input == null || !(net.getLayerWiseConfigurations().getConf(0).getLayer()
                instanceof org.deeplearning4j.nn.conf.layers.EmbeddingSequenceLayer)) {
            return input;
        }
        INDArray in = input.rank() == 3 && input.size(1) == 1 ? input.reshape(input.ordering(), input.size(0), input.size(2))
                : input;
        if (in.ordering() != 'c' || in.isView() || !org.nd4j.linalg.api.shape.Shape.hasDefaultStridesForShape(in)) {
            in = in.dup('c');
        }
        return in;
    }

    /**
     * Backward of micro-batch {@code microBatch} on a stage that is not the last: adds its parameter
     * gradient to the step's sum.
     *
     * @param outputGradient gradient of the loss with respect to this stage's output
     * @return gradient with respect to this stage's input; null on the first stage when the model's first layer is a
     *     plain dense layer (nothing reads the gradient of the model's input, so it is not formed)
     */
    public INDArray backward(int microBatch, INDArray outputGradient) {
        if (isLast()) {
            throw new IllegalStateException("stage " + stage + " is the last stage: use backwardWithLabels");
        }
        INDArray[] in = inputs.get(microBatch);
        if (allFrozen) {
            takeInput(microBatch);
            stash.remove(microBatch);
            microBatches++;
            return stage > 0 ? Nd4j.zeros(in[0].dataType(), in[0].shape()) : null;
        }
        prepareBackward(microBatch);
        DeferredWeightGradients.useSlot(deferrable, microBatch);
        Pair<Gradient, INDArray> p = net.backpropGradient(outputGradient, NO_WS);
        return finishBackward(microBatch, p, in);
    }

    /**
     * Forward and backward of micro-batch {@code microBatch} on the last stage: computes the loss against
     * {@code labels} and adds the parameter gradient to the step's sum.
     *
     * @param labelsMask per-example or per-time-step labels mask, or null
     * @return gradient with respect to this stage's input; null on the first stage when the model's first layer is a
     *     plain dense layer (nothing reads the gradient of the model's input, so it is not formed)
     */
    public INDArray backwardWithLabels(int microBatch, INDArray labels, INDArray labelsMask) {
        if (!isLast()) {
            throw new IllegalStateException("stage " + stage + " is not the last stage: it has no labels");
        }
        keepFirstGradient();
        INDArray[] in = takeInput(microBatch);
        setDropoutContext(microBatch);
        applyFeaturesMask(in[1]);
        DeferredWeightGradients.useSlot(deferrable, microBatch);
        Pair<Gradient, INDArray> p = forwardOf(microBatch, () -> net.calculateGradients(in[0], labels, null, labelsMask));
        // Score without the regularization term, times the examples: the summed loss of the micro-batch.
        lossSum += net.lastLoss() * microBatchSize;
        return finishBackward(microBatch, p, in);
    }

    /**
     * Inference forward of {@code examples} rows through this stage's layers (no dropout, nothing kept for a
     * backward, no step begun): the last stage returns the model's output, the others their activations for
     * the next stage. Independent of the training state; used by the pipelined and per-partition transform.
     *
     * @param examples rows of the model's input this batch holds (a stage inside a time-distributed block sees
     *     {@code examples * T} rows of {@code input})
     */
    public INDArray infer(INDArray input, int examples) {
        if (examples <= 0) {
            throw new IllegalArgumentException("examples must be positive, found " + examples);
        }
        net.pinMiniBatchSize(examples);
        return net.output(input, false);
    }

    /** Micro-batches forwarded and not yet back-propagated: each holds its input (and stash) until its backward. */
    public int heldMicroBatches() {
        return inputs.size();
    }

    /** Sum over the step's micro-batches so far of the per-example loss (no regularization term). */
    public double lossSum() {
        return lossSum;
    }

    /** DL4J's regularization score (L1/L2 terms) of this stage's layers at the current parameters. */
    public double regularizationScore() {
        return net.calcRegularizationScore(true);
    }

    /**
     * Applies the step's summed gradient with the DL4J updater, as {@code fit} does for a mini-batch of
     * {@code miniBatchSize} examples, then bumps the iteration count. BatchNormalization running
     * mean/variance updates are averaged over the micro-batches instead of summed.
     */
    public void applyUpdate(int miniBatchSize) {
        requireStep();
        if (!inputs.isEmpty()) {
            throw new IllegalStateException("stage " + stage + ": step " + step + " still has micro-batches without backward: "
                    + inputs.keySet());
        }
        if (allFrozen) {
            // frozen parameters: DL4J's fit leaves them as they are (no backward reached them)
        } else if (fusedUpdate) {
            if (microBatches != 1 || layersUpdated == 0) {
                throw new IllegalStateException("stage " + stage + " updates each layer after its backward, which needs "
                        + "exactly one micro-batch per step; step " + step + " had " + microBatches);
            }
        } else if (net.numParams() > 0) {
            if (gradientLayout == null) {
                throw new IllegalStateException("stage " + stage + ": no backward ran before the update of step " + step);
            }
            if (intoScratch) {
                writeIntoScratch(false);
            }
            completeDeferred();
            INDArray view = net.getFlattenedGradients();
            if (microBatches > 1) {
                for (INDArray stat : runningStatSums) {
                    stat.divi(microBatches);
                }
            }
            requireFinite(view);
            net.getUpdater().update(net, gradientLayout, Math.toIntExact(step), epoch, miniBatchSize, NO_WS);
            net.params().subi(view.reshape(net.params().shape()));
            net.applyConstraints(Math.toIntExact(step), epoch);
        }
        net.setIterationCount(Math.toIntExact(step + 1));
        net.syncCounts();
        step = -1;
    }

    /**
     * Hands the step's gradient, summed over its micro-batches (DL4J's flat gradient view of the stage, which the
     * update reads), to {@code sumInPlace}, which replaces it by its sum over the data-parallel replicas; call it
     * after the step's last backward and before {@link #applyUpdate}. A stage without trainable parameters has
     * nothing to sum (every replica of it skips alike).
     *
     * @throws IllegalStateException if the stage fuses its update into the backward (its gradient is never whole)
     */
    public void reduceGradient(java.util.function.Consumer<INDArray> sumInPlace) {
        requireStep();
        if (fusedUpdate) {
            throw new IllegalStateException("stage " + stage + " updates each layer right after its backward: its "
                    + "step's gradient is never whole, so it cannot be summed across replicas");
        }
        if (allFrozen || net.numParams() == 0) {
            return;
        }
        if (gradientLayout == null || microBatches == 0) {
            throw new IllegalStateException("stage " + stage + ": no backward ran before the all-reduce of step " + step);
        }
        if (intoScratch) {
            writeIntoScratch(false);
        }
        completeDeferred();
        sumInPlace.accept(net.getFlattenedGradients());
    }

    /**
     * The first layer whose gradient of the current step (summed over its micro-batches so far) holds a NaN
     * or an infinity, as a global layer index, or -1 when every gradient is finite (or the stage has no
     * parameters or ran no backward yet). One sum over the whole gradient decides; only a non-finite one is
     * searched per layer. For the worker's collective skip decision ({@code spark.mp.nonFinite=skip}): call it
     * after the step's last backward and before {@link #applyUpdate}.
     */
    public int firstNonFiniteLayer() {
        requireStep();
        if (fusedUpdate) {
            throw new IllegalStateException("stage " + stage + " updates each layer right after its backward: its "
                    + "step's gradient is never whole, so the step cannot be left out (build it without the fused update)");
        }
        if (net.numParams() == 0 || gradientLayout == null || microBatches == 0) {
            return -1;
        }
        completeDeferred();
        return firstNonFinite(net.getFlattenedGradients()); // the step's sum: the layers' taps add into it
    }

    private int firstNonFinite(INDArray gradient) {
        if (Double.isFinite(gradient.sumNumber().doubleValue())) {
            return -1;
        }
        long offset = 0;
        for (int i = 0; i < net.getnLayers(); i++) {
            NeuralNetConfiguration c = net.getLayer(i).conf();
            long len = c.getLayer().initializer().numParams(c);
            if (len > 0) {
                INDArray g = gradient.get(NDArrayIndex.interval(0, 0, true), NDArrayIndex.interval(offset, offset + len));
                if (!Double.isFinite(g.sumNumber().doubleValue())) {
                    return fromLayer + i;
                }
            }
            offset += len;
        }
        return fromLayer; // the whole sum overflowed although every layer's is finite: name the stage's first layer
    }

    /**
     * Stops training before a NaN or infinite gradient reaches the parameters.
     *
     * @throws IllegalStateException naming the step, the stage and the first layer with a non-finite gradient
     */
    private void requireFinite(INDArray gradient) {
        int layer = firstNonFinite(gradient);
        if (layer >= 0) {
            throw nonFinite("layer " + layer + " ("
                    + net.getLayer(layer - fromLayer).conf().getLayer().getClass().getSimpleName() + ")");
        }
    }

    private IllegalStateException nonFinite(String where) {
        return new IllegalStateException("non-finite gradient (NaN or infinity) at step " + step + " on stage " + stage
                + ", first in " + where + ": training stops before the update (check the data for NaN/Inf, the "
                + "learning rate, or add gradient clipping, or set spark.mp.nonFinite=skip to leave such steps out)");
    }

    /** Copies of this stage's parameters, keyed by global layer index (layers with parameters only). */
    public Map<Integer, INDArray> parameters() {
        return LayerParameters.parameters(net, fromLayer);
    }

    /** Copies of this stage's updater state per global layer index (see {@link LayerParameters}). */
    public Map<Integer, INDArray> updaterState() {
        return fusedUpdate ? LayerParameters.concatenatedCopies(stateSegments()) : LayerParameters.updaterState(net, fromLayer);
    }

    /**
     * Views of this stage's parameters, one rank-1 segment per layer with parameters, keyed by global layer
     * index: they share memory with the stage (the per-layer store streams them without copies, and reads
     * into them).
     */
    public Map<Integer, List<INDArray>> parameterSegments() {
        return LayerParameters.parameterSegments(net, fromLayer);
    }

    /**
     * Views of this stage's updater state per global layer index (layout in {@link LayerParameters}), making
     * the updater first if it does not exist yet; empty for a stateless updater (SGD).
     */
    public Map<Integer, List<INDArray>> stateSegments() {
        if (fusedUpdate) {
            return LayerParameters.stateSegments(net, presentLayerUpdaters(), fromLayer);
        }
        if (net.numParams() > 0) {
            net.getUpdater();
        }
        return LayerParameters.stateSegments(net, fromLayer);
    }

    /** Replaces this stage's updater state (e.g. from a checkpoint); entries of other layers are ignored. */
    public void setUpdaterState(Map<Integer, INDArray> state) {
        if (fusedUpdate) {
            LayerParameters.setUpdaterState(net, presentLayerUpdaters(), fromLayer, state);
        } else if (net.numParams() > 0) {
            net.getUpdater();
            LayerParameters.setUpdaterState(net, fromLayer, state);
        }
    }

    /**
     * Frees this stage's native memory now (parameters, gradients, gradient sum, updater state, the calling
     * thread's workspaces) instead of when the garbage collector finds it; the stage must not be used after.
     * For callers that build one stage after another in one process (the profiler).
     */
    public void release() {
        DeferredWeightGradients.release(deferrable);
        stash.clear();
        inputs.clear();
        runningStatSums.clear();
        if (gradientScratch != null && gradientScratch.closeable()) {
            gradientScratch.close();
        }
        gradientScratch = null;
        if (fusedUpdate) {
            net.useGradientArray(null); // it was the scratch buffer
            for (LayerUpdater u : layerUpdaters == null ? new LayerUpdater[0] : layerUpdaters) {
                if (u != null && u.getStateViewArray() != null && u.getStateViewArray().closeable()) {
                    u.getStateViewArray().close();
                }
            }
            layerUpdaters = null;
        }
        if (net.numParams() > 0) {
            net.close(); // parameters, gradients, updater state, workspaces
        } else {
            org.nd4j.linalg.factory.Nd4j.getWorkspaceManager().destroyAllWorkspacesForCurrentThread();
        }
    }

    /**
     * Before the second backward of a step: the first micro-batch's gradient is in DL4J's gradient view, and the
     * layers must not overwrite it until the update.
     */
    private void keepFirstGradient() {
        if (fusedUpdate && microBatches > 0) {
            throw new IllegalStateException("stage " + stage + " updates each layer after its backward, which needs "
                    + "exactly one micro-batch per step; step " + step + " has a second one");
        }
        if (microBatches == 1 && net.numParams() > 0) {
            if (gradientScratch == null) {
                makeGradientScratch();
            }
            writeIntoScratch(true);
        }
    }

    private void prepareBackward(int microBatch) {
        keepFirstGradient();
        if (forwardStateOf != microBatch) {
            INDArray[] in = inputs.get(microBatch);
            if (in == null) {
                throw new IllegalStateException("stage " + stage + ": backward of micro-batch " + microBatch
                        + " before its forward in step " + step);
            }
            INDArray[] kept = stash.get(microBatch);
            if (kept != null) {
                restore(microBatch, kept);
            } else {
                runForward(microBatch);
            }
        }
        stash.remove(microBatch);
        takeInput(microBatch);
    }

    /** Hands a stashed micro-batch's layer inputs back to the layers: the state its forward left, without the forward. */
    private void restore(int microBatch, INDArray[] kept) {
        INDArray[] in = inputs.get(microBatch);
        setDropoutContext(microBatch);
        applyFeaturesMask(in[1]);
        net.setInput(in[0]);
        for (int i = 0; i < kept.length; i++) {
            INDArray layerInput = kept[i];
            InputPreProcessor pre = net.getLayerWiseConfigurations().getInputPreProcess(i);
            if (net.getLayer(i).conf().getLayer().getIDropout() != null && pre != null) {
                layerInput = pre.preProcess(layerInput, microBatchSize, NO_WS);
            }
            if (net.getLayer(i) instanceof org.deeplearning4j.nn.layers.DropoutLayer d) {
                // Its backward multiplies by the mask its forward drew: draw it again (elementwise, cheap).
                d.activate(layerInput, true, NO_WS);
            } else {
                net.getLayer(i).setInput(layerInput, NO_WS);
                if (net.getLayer(i).conf().getLayer().getIDropout() != null) {
                    // Draw the same example-keyed mask now, outside DL4J's workspaces (its backward would draw it
                    // inside a workspace that is not open then).
                    applyDropout(net.getLayer(i));
                }
            }
        }
        forwardStateOf = microBatch;
    }

    private static final java.lang.reflect.Method APPLY_DROPOUT;

    static {
        try {
            APPLY_DROPOUT = org.deeplearning4j.nn.layers.AbstractLayer.class.getDeclaredMethod("applyDropOutIfNecessary",
                    boolean.class, LayerWorkspaceMgr.class);
            APPLY_DROPOUT.setAccessible(true);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** DL4J's own input dropout of a layer (protected in AbstractLayer): sets the layer's dropped input and flag. */
    private static void applyDropout(Layer layer) {
        try {
            APPLY_DROPOUT.invoke(layer, true, NO_WS);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot apply the dropout of " + layer.getClass().getSimpleName(), e);
        }
    }

    /**
     * @param in the micro-batch's stage input: a stage that starts with FrozenLayers (where DL4J's backward stops)
     *     sends back zeros of its shape, which the frozen stages below ignore (see LayerSupport#placement)
     */
    private INDArray finishBackward(int microBatch, Pair<Gradient, INDArray> p, INDArray[] in) {
        forwardStateOf = -1;
        if (net.numParams() > 0) {
            // The first micro-batch's backward wrote into DL4J's gradient view: its Gradient names the parts the
            // updater needs. Later ones wrote into the scratch buffer (the taps summed), so theirs names that.
            if (!intoScratch) {
                gradientLayout = p.getFirst();
            }
        }
        microBatches++;
        if (hasFrozen) {
            // DL4J stopped at the top frozen layer: what it returns is not the gradient of this stage's input
            return stage > 0 ? Nd4j.zeros(in[0].dataType(), in[0].shape()) : null;
        }
        return p.getSecond();
    }

    private INDArray runForward(int microBatch) {
        List<INDArray> acts = runForwardActivations(microBatch);
        return acts.get(acts.size() - 1);
    }

    /** The forward of a kept micro-batch: the network's input, then every layer's output. */
    private List<INDArray> runForwardActivations(int microBatch) {
        INDArray[] in = inputs.get(microBatch);
        setDropoutContext(microBatch);
        applyFeaturesMask(in[1]);
        net.setInput(in[0]);
        List<INDArray> acts = forwardOf(microBatch, () -> net.feedForward(true, false));
        forwardStateOf = microBatch;
        return acts;
    }

    /** Runs {@code forward} as micro-batch {@code microBatch}'s training forward: its dense layers keep their z. */
    private <T> T forwardOf(int microBatch, java.util.function.Supplier<T> forward) {
        DeferredWeightGradients.forwardSlot(deferrable, microBatch);
        try {
            return forward.get();
        } finally {
            DeferredWeightGradients.forwardSlot(deferrable, -1);
        }
    }

    /**
     * Sets the layers' masks from the model's features mask. The mask is first brought to the form it has
     * at this stage's input (e.g. a [examples * T, 1] column inside a time-distributed block), and
     * propagated with the pinned micro-batch size: DL4J's own setLayerMaskArrays would take the mask's
     * row count as the mini-batch size.
     */
    private void applyFeaturesMask(INDArray featuresMask) {
        net.clearLayerMaskArrays();
        if (featuresMask == null) {
            return;
        }
        Pair<INDArray, MaskState> here = upstream.apply(featuresMask, MaskState.Active, microBatchSize);
        if (here != null) {
            net.feedForwardMaskArray(here.getFirst(), here.getSecond(), microBatchSize);
            refuseMaskedTimeDistributed();
        }
    }

    /**
     * Refuses a features mask that masks out steps at a TimeDistributed layer ({@link LayerSupport#MASKED_TIME_DISTRIBUTED}):
     * a mask is data, not configuration, so this is checked when the first masked micro-batch reaches the stage.
     */
    private void refuseMaskedTimeDistributed() {
        for (int i = 0; i < net.getnLayers(); i++) {
            if (net.getLayerWiseConfigurations().getConf(i).getLayer()
                    instanceof org.deeplearning4j.nn.conf.layers.recurrent.TimeDistributed) {
                INDArray mask = net.getLayer(i).getMaskArray();
                if (mask != null && mask.minNumber().doubleValue() < 1) {
                    throw new IllegalArgumentException("layer " + (fromLayer + i) + " (TimeDistributed) "
                            + LayerSupport.MASKED_TIME_DISTRIBUTED);
                }
            }
        }
    }

    private INDArray[] takeInput(int microBatch) {
        requireStep();
        INDArray[] in = inputs.remove(microBatch);
        if (in == null) {
            throw new IllegalStateException("stage " + stage + ": backward of micro-batch " + microBatch
                    + " before its forward in step " + step);
        }
        return in;
    }

    private void setDropoutContext(int microBatch) {
        dropoutContext.set(step, firstExample + (long) microBatch * microBatchSize, microBatchSize);
    }

    private void requireStep() {
        if (step < 0) {
            throw new IllegalStateException("stage " + stage + ": beginStep was not called");
        }
    }

    /** Length of the network's gradient array: the stage's parameters, or the largest layer's when fused (tests). */
    long gradientArrayLength() {
        return net.getFlattenedGradients() == null ? 0 : net.getFlattenedGradients().length();
    }

    /** The layers of this stage (read-only use: tests and diagnostics). */
    Layer[] layers() {
        return net.getLayers();
    }
}
