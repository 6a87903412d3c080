package io.sparkmp.model;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.params.DefaultParamInitializer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * DL4J's dense layer whose weight gradient can be deferred to the end of a step: a stage that cuts its mini-batch
 * into M micro-batches would otherwise form dW = Xᵀ·δ as M small products (K = B/M rows each) and sum them, which
 * on one core costs far more than one product over all B rows (measured by {@code MicroBatchCostBenchmark
 * --gemm-split}). While {@link #beginDeferring deferring}, each backward computes δ and the input gradient δ·Wᵀ as
 * DL4J does, copies the layer's input X_m (after dropout, as DL4J's product reads it) and δ_m into rows
 * {@code [m·r, (m+1)·r)} of two step-sized buffers, and writes no parameter gradient; {@link #completeInto} then
 * forms dW = [X_1..X_M]ᵀ·[δ_1..δ_M] and db = the column sums of [δ_1..δ_M] once, into the given gradient view: the
 * same products {@code fit} forms over the whole mini-batch, so the updater step is unchanged.
 *
 * <p>Used only for a plain dense layer (no layer normalization, whose gain gradient would need its own
 * deferral). Weight noise stays right: the noisy weights enter δ and the input gradient only, which are still
 * formed per micro-batch. When not deferring it is DL4J's dense layer unchanged.
 *
 * <p>Kept pre-activations: DL4J's dense backward starts by forming z = X·W + b again (as {@code fit} does), one
 * product per layer and micro-batch as large as the forward's. While a stage names the micro-batch of a forward
 * ({@link #forwardSlot}) the layer keeps a copy of that forward's z, and the backward of the same micro-batch
 * ({@link #useSlot}) reads it instead of forming it again: the same values (same input, weights and product), one
 * product fewer. The stage keeps one z per micro-batch in flight with the activation stash, and only the last
 * forward's when it recomputes ({@link #keepPreActivations}). A layer with weight noise forms z again (its noisy
 * weights are drawn per forward).
 */
final class DeferredDenseLayer extends org.deeplearning4j.nn.layers.feedforward.dense.DenseLayer {

    private static final long serialVersionUID = 1L;

    /** Step-sized copies of the layer inputs and of δ, one row block per micro-batch; kept between steps. */
    private transient INDArray inputs;
    private transient INDArray deltas;
    private transient boolean deferring;
    private transient int microBatches;
    private transient int rowsPerMicroBatch = -1;
    private transient int slot = -1;
    private transient int filled;
    /** Weight-gradient products formed (deferred or not) since construction: for tests. */
    private transient long weightProducts;
    /** Pre-activations kept from forwards, by micro-batch; arrays made outside workspaces and reused. */
    private transient Map<Integer, INDArray> keptZ;
    private transient ArrayDeque<INDArray> freeZ;
    /** How many kept pre-activations at most (0: keep none). */
    private transient int keepLimit;
    private transient int forwardSlot = -1;
    private transient int backwardSlot = -1;
    /** The kept z the running backward reads (in place: DL4J's activation backward may overwrite it). */
    private transient INDArray zInUse;
    /** Backwards that read a kept z instead of forming it again, since construction: for tests. */
    private transient long keptZReads;
    /** False for the model's first layer: nothing reads the gradient of the model's input, so it is not formed. */
    private transient boolean formsInputGradient = true;

    DeferredDenseLayer(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    /** Whether DL4J's layer {@code layer} can be replaced by a deferring one (a dense layer without layer norm). */
    static boolean eligible(org.deeplearning4j.nn.api.Layer layer) {
        return layer.getClass() == org.deeplearning4j.nn.layers.feedforward.dense.DenseLayer.class
                && !((org.deeplearning4j.nn.layers.feedforward.dense.DenseLayer) layer).hasLayerNorm();
    }

    /** A deferring copy of {@code layer} sharing its parameters, gradient view, index and listeners. */
    static DeferredDenseLayer replacing(org.deeplearning4j.nn.layers.feedforward.dense.DenseLayer layer) {
        DeferredDenseLayer d = new DeferredDenseLayer(layer.conf(), layer.getParam(DefaultParamInitializer.WEIGHT_KEY).dataType());
        d.setIndex(layer.getIndex());
        d.setListeners(layer.getListeners());
        d.setParamsViewArray(layer.params());
        d.setParamTable(layer.paramTable());
        if (layer.getGradientsViewArray() != null) {
            d.setBackpropGradientsViewArray(layer.getGradientsViewArray());
        }
        return d;
    }

    /** Defers this step's weight gradient over {@code microBatchesInStep} backwards (each then needs {@link #useSlot}). */
    void beginDeferring(int microBatchesInStep) {
        if (microBatchesInStep <= 0) {
            throw new IllegalArgumentException("microBatchesInStep must be positive, found " + microBatchesInStep);
        }
        deferring = true;
        microBatches = microBatchesInStep;
        filled = 0;
        slot = -1;
    }

    /** Ends deferring (the next backward forms its gradient as DL4J does); buffers are kept for the next step. */
    void stopDeferring() {
        deferring = false;
        filled = 0;
        slot = -1;
    }

    boolean deferring() {
        return deferring;
    }

    /**
     * The micro-batch (0-based, within the step) the next backward belongs to: its rows in the buffers while
     * deferring, and the kept pre-activation it reads.
     */
    void useSlot(int microBatch) {
        if (deferring && (microBatch < 0 || microBatch >= microBatches)) {
            throw new IllegalArgumentException("micro-batch " + microBatch + " is outside [0, " + microBatches + ")");
        }
        if (deferring) {
            slot = microBatch;
        }
        backwardSlot = microBatch;
    }

    /**
     * How many forwards' pre-activations to keep at most: 0 keeps none (the backward forms z again), 1 the last
     * forward's (a stage that recomputes runs each backward's forward just before it), more one per micro-batch in
     * flight (the activation stash).
     */
    void keepPreActivations(int limit) {
        if (limit < 0) {
            throw new IllegalArgumentException("limit must be >= 0, found " + limit);
        }
        keepLimit = layerConf().getWeightNoise() != null ? 0 : limit;
        dropKept();
    }

    /** The micro-batch the following training forwards belong to, or -1 for none (nothing kept). */
    void forwardSlot(int microBatch) {
        forwardSlot = microBatch;
    }

    /** Forgets every kept pre-activation (their arrays are reused); at a step's start and end. */
    void dropKept() {
        if (keptZ != null) {
            freeZ.addAll(keptZ.values());
            keptZ.clear();
        }
        forwardSlot = -1;
        backwardSlot = -1;
    }

    long keptZReads() {
        return keptZReads;
    }

    /**
     * The backward returns no input gradient (null) and skips its product δ·Wᵀ: for the model's first layer, whose
     * input gradient nothing reads (DL4J's fit forms it and drops it).
     */
    void skipInputGradient() {
        formsInputGradient = false;
    }

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        if (!training || forwardSlot < 0 || keepLimit == 0) {
            return super.activate(training, workspaceMgr);
        }
        // As BaseLayer.activate, keeping a copy of z before the activation function (which may work in place).
        INDArray z = preOutput(true, workspaceMgr);
        keep(forwardSlot, z);
        INDArray ret = layerConf().getActivationFn().getActivation(z, true);
        if (maskArray != null) {
            applyMask(ret);
        }
        return ret;
    }

    private void keep(int microBatch, INDArray z) {
        if (keptZ == null) {
            keptZ = new HashMap<>();
            freeZ = new ArrayDeque<>();
        }
        INDArray dst = keptZ.remove(microBatch);
        if (keptZ.size() >= keepLimit) {
            // Recomputing (limit 1): only the last forward's z is read.
            freeZ.addAll(keptZ.values());
            keptZ.clear();
        }
        if (dst != null && (!dst.equalShapes(z) || dst.dataType() != z.dataType())) {
            close(dst); // the micro-batch size changed: that shape is not wanted again
            dst = null;
        }
        if (dst == null) {
            for (java.util.Iterator<INDArray> it = freeZ.iterator(); it.hasNext(); ) {
                INDArray f = it.next();
                if (f.equalShapes(z) && f.dataType() == z.dataType()) {
                    it.remove();
                    dst = f;
                    break;
                }
            }
        }
        try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            if (dst == null) {
                dst = Nd4j.createUninitialized(z.dataType(), z.shape(), 'c');
            }
            dst.assign(z);
        }
        keptZ.put(microBatch, dst);
    }

    @Override
    protected Pair<INDArray, INDArray> preOutputWithPreNorm(boolean training, boolean forBackprop,
                                                            LayerWorkspaceMgr workspaceMgr) {
        INDArray z = forBackprop && training && backwardSlot >= 0 && keptZ != null ? keptZ.remove(backwardSlot) : null;
        if (z == null) {
            return super.preOutputWithPreNorm(training, forBackprop, workspaceMgr);
        }
        assertInputSet(true);
        applyDropOutIfNecessary(true, workspaceMgr); // applied already by the forward or the stash's restore: a no-op
        zInUse = z;
        keptZReads++;
        return new Pair<>(z, z); // no layer norm (not eligible): z is its own pre-norm
    }

    /** Whether every micro-batch of the step has run its backward. */
    boolean complete() {
        return deferring && filled == microBatches;
    }

    /** Bytes of the step-sized buffers this layer holds now. */
    long bufferBytes() {
        long n = (inputs == null ? 0 : inputs.length()) + (deltas == null ? 0 : deltas.length());
        return inputs == null ? 0 : n * inputs.dataType().width();
    }

    long weightProducts() {
        return weightProducts;
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        try {
            return backprop(epsilon, workspaceMgr);
        } finally {
            backwardSlot = -1;
            if (zInUse != null) {
                freeZ.add(zInUse);
                zInUse = null;
            }
        }
    }

    private Pair<Gradient, INDArray> backprop(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        if (!deferring && formsInputGradient) {
            weightProducts++;
            return super.backpropGradient(epsilon, workspaceMgr);
        }
        if (!deferring) {
            weightProducts++;
            return withoutInputGradient(epsilon, workspaceMgr);
        }
        if (slot < 0) {
            throw new IllegalStateException("layer " + layerId() + ": backward while deferring, with no micro-batch named");
        }
        // As BaseLayer.backpropGradient, without layer norm (not eligible) and without the parameter products.
        INDArray delta = delta(epsilon, workspaceMgr);
        Gradient ret = new DefaultGradient();
        if (hasBias()) {
            ret.gradientForVariable().put(DefaultParamInitializer.BIAS_KEY, gradientViews.get(DefaultParamInitializer.BIAS_KEY));
        }
        INDArray epsilonNext = null;
        if (formsInputGradient) {
            INDArray w = getParamWithNoise(DefaultParamInitializer.WEIGHT_KEY, true, workspaceMgr);
            epsilonNext = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, delta.dataType(),
                    new long[] {w.size(0), delta.size(0)}, 'f');
            epsilonNext = w.mmuli(delta.transpose(), epsilonNext).transpose();
        }
        ret.gradientForVariable().put(DefaultParamInitializer.WEIGHT_KEY, gradientViews.get(DefaultParamInitializer.WEIGHT_KEY));
        keep(input.castTo(delta.dataType()), delta);
        weightNoiseParams.clear();
        if (epsilonNext != null) {
            epsilonNext = backpropDropOutIfPresent(epsilonNext);
        }
        slot = -1;
        return new Pair<>(ret, epsilonNext);
    }

    /** As BaseLayer.backpropGradient (no layer norm: not eligible), without the input gradient's product. */
    private Pair<Gradient, INDArray> withoutInputGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        INDArray delta = delta(epsilon, workspaceMgr);
        Gradient ret = new DefaultGradient();
        if (hasBias()) {
            INDArray biasGrad = gradientViews.get(DefaultParamInitializer.BIAS_KEY);
            delta.sum(biasGrad, 0);
            ret.gradientForVariable().put(DefaultParamInitializer.BIAS_KEY, biasGrad);
        }
        INDArray weightGrad = gradientViews.get(DefaultParamInitializer.WEIGHT_KEY);
        Nd4j.gemm(input.castTo(weightGrad.dataType()), delta, weightGrad, true, false, 1.0, 0.0);
        ret.gradientForVariable().put(DefaultParamInitializer.WEIGHT_KEY, weightGrad);
        weightNoiseParams.clear();
        return new Pair<>(ret, null);
    }

    /** The pre-activation gradient δ of this backward (z kept or formed again), masked as DL4J masks it. */
    private INDArray delta(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(true);
        INDArray z = preOutputWithPreNorm(true, true, workspaceMgr).getFirst();
        INDArray delta = layerConf().getActivationFn().backprop(z, epsilon).getFirst();
        if (maskArray != null) {
            applyMask(delta);
        }
        return delta;
    }

    /** Copies micro-batch {@link #slot}'s input and δ into their rows of the step buffers (made outside workspaces). */
    private void keep(INDArray x, INDArray delta) {
        int rows = Math.toIntExact(delta.size(0));
        try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            long total = (long) rows * microBatches;
            if (inputs == null || rows != rowsPerMicroBatch || inputs.size(0) != total || inputs.dataType() != delta.dataType()) {
                if (filled > 0) {
                    throw new IllegalStateException("layer " + layerId() + ": micro-batch of " + rows + " rows after ones of "
                            + rowsPerMicroBatch + " in the same step (deferred weight gradients need equal micro-batches)");
                }
                inputs = Nd4j.create(delta.dataType(), total, x.size(1));
                deltas = Nd4j.create(delta.dataType(), total, delta.size(1));
                rowsPerMicroBatch = rows;
            }
            long from = (long) slot * rows;
            inputs.get(NDArrayIndex.interval(from, from + rows), NDArrayIndex.all()).assign(x);
            deltas.get(NDArrayIndex.interval(from, from + rows), NDArrayIndex.all()).assign(delta);
        }
        filled++;
    }

    /**
     * Forms this step's weight and bias gradient from every micro-batch's rows in one product each, into
     * {@code layerGradient} (the layer's flat part of a gradient, as DL4J lays it out), replacing what is there.
     *
     * @throws IllegalStateException if not every micro-batch of the step has run its backward
     */
    void completeInto(INDArray layerGradient) {
        if (!complete()) {
            throw new IllegalStateException("layer " + layerId() + ": weight gradient asked for after " + filled + " of "
                    + microBatches + " micro-batches' backward");
        }
        NeuralNetConfiguration c = conf();
        Map<String, INDArray> parts = c.getLayer().initializer().getGradientsFromFlattened(c, layerGradient);
        try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            INDArray dw = parts.get(DefaultParamInitializer.WEIGHT_KEY);
            Nd4j.gemm(inputs, deltas, dw, true, false, 1.0, 0.0);
            if (hasBias()) {
                deltas.sum(parts.get(DefaultParamInitializer.BIAS_KEY), 0);
            }
        }
        weightProducts++;
        stopDeferring();
    }

    private static void close(INDArray a) {
        if (a.closeable()) {
            a.close();
        }
    }

    /** Frees the step buffers and kept pre-activations now. */
    void releaseBuffers() {
        if (inputs != null && inputs.closeable()) {
            inputs.close();
            deltas.close();
        }
        inputs = null;
        deltas = null;
        dropKept();
        if (freeZ != null) {
            for (INDArray z : freeZ) {
                close(z);
            }
            freeZ.clear();
        }
    }
}
