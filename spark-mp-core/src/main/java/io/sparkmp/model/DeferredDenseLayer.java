package io.sparkmp.model;

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

    /** The micro-batch (0-based, within the step) the next backward belongs to: its rows in the buffers. */
    void useSlot(int microBatch) {
        if (microBatch < 0 || microBatch >= microBatches) {
            throw new IllegalArgumentException("micro-batch " + microBatch + " is outside [0, " + microBatches + ")");
        }
        slot = microBatch;
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
        if (!deferring) {
            weightProducts++;
            return super.backpropGradient(epsilon, workspaceMgr);
        }
        if (slot < 0) {
            throw new IllegalStateException("layer " + layerId() + ": backward while deferring, with no micro-batch named");
        }
        assertInputSet(true);
        // As BaseLayer.backpropGradient, without layer norm (not eligible) and without the parameter products.
        INDArray z = preOutputWithPreNorm(true, true, workspaceMgr).getFirst();
        INDArray delta = layerConf().getActivationFn().backprop(z, epsilon).getFirst();
        if (maskArray != null) {
            applyMask(delta);
        }
        Gradient ret = new DefaultGradient();
        if (hasBias()) {
            ret.gradientForVariable().put(DefaultParamInitializer.BIAS_KEY, gradientViews.get(DefaultParamInitializer.BIAS_KEY));
        }
        INDArray w = getParamWithNoise(DefaultParamInitializer.WEIGHT_KEY, true, workspaceMgr);
        INDArray epsilonNext = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, delta.dataType(),
                new long[] {w.size(0), delta.size(0)}, 'f');
        epsilonNext = w.mmuli(delta.transpose(), epsilonNext).transpose();
        ret.gradientForVariable().put(DefaultParamInitializer.WEIGHT_KEY, gradientViews.get(DefaultParamInitializer.WEIGHT_KEY));
        keep(input.castTo(delta.dataType()), delta);
        weightNoiseParams.clear();
        epsilonNext = backpropDropOutIfPresent(epsilonNext);
        slot = -1;
        return new Pair<>(ret, epsilonNext);
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

    /** Frees the step buffers now. */
    void releaseBuffers() {
        if (inputs != null && inputs.closeable()) {
            inputs.close();
            deltas.close();
        }
        inputs = null;
        deltas = null;
    }
}
