package io.sparkmp.model;

import org.deeplearning4j.nn.api.layers.IOutputLayer;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A {@link MultiLayerNetwork} holding a contiguous slice of a model. It differs from its parent in one
 * point: the micro-batch size can be pinned. A slice that starts inside a time-distributed block receives
 * 2d activations of {@code examples * T} rows, and DL4J would take that row count as the mini-batch
 * size for its {@code FeedForwardToRnnPreProcessor}s. And a backward through the output layer also computes the
 * loss, while the layers' activations still live in DL4J's training workspace (they are gone once
 * {@code calculateGradients} returns).
 */
final class SliceNetwork extends MultiLayerNetwork {

    private static final long serialVersionUID = 1L;

    private int pinnedMiniBatchSize = -1;
    private double loss = Double.NaN;
    private boolean lossTaken;

    SliceNetwork(MultiLayerConfiguration conf) {
        super(conf);
    }

    /** Pins the number of examples DL4J assumes for the next passes; {@code -1} unpins. */
    void pinMiniBatchSize(int examples) {
        this.pinnedMiniBatchSize = examples;
        if (examples > 0) {
            super.setInputMiniBatchSize(examples);
        }
    }

    @Override
    public int getInputMiniBatchSize() {
        return pinnedMiniBatchSize > 0 ? pinnedMiniBatchSize : super.getInputMiniBatchSize();
    }

    @Override
    public void setInputMiniBatchSize(int size) {
        super.setInputMiniBatchSize(pinnedMiniBatchSize > 0 ? pinnedMiniBatchSize : size);
    }

    /** Copies the network's iteration and epoch counts into its layers (dropout schedules read them). */
    void syncCounts() {
        synchronizeIterEpochCounts();
    }

    /**
     * The loss of the last backward through the output layer ({@code calculateGradients}): mean over the
     * micro-batch's examples, without the regularization term; NaN before the first.
     */
    double lastLoss() {
        return loss;
    }

    /**
     * Uses {@code gradients} as the network's gradient array instead of one of the stage's size (which DL4J would
     * otherwise make at the first backward): for a stage whose layers write into one layer-sized buffer and
     * are updated one at a time. DL4J's whole-network updater must not be used then.
     */
    void useGradientArray(INDArray gradients) {
        this.flattenedGradients = gradients;
    }

    /** Puts {@code layer} in place of layer {@code i} (same configuration and parameters; before the updater exists). */
    void replaceLayer(int i, org.deeplearning4j.nn.api.Layer layer) {
        org.deeplearning4j.nn.api.Layer old = layers[i];
        layers[i] = layer;
        if (layerMap != null) {
            layerMap.replaceAll((name, l) -> l == old ? layer : l);
        }
    }

    /** Whether this slice starts with FrozenLayers (set by its stage; see StageSlice). */
    boolean startsFrozen;

    /**
     * Takes the loss of the output layer now, from within its backward (a stage that updates each layer right
     * after its backward changes the output layer's parameters before {@code calculateGradients} returns);
     * the backward's own loss computation is skipped then.
     */
    void takeLossNow() {
        loss = ((IOutputLayer) getOutputLayer()).computeScore(0.0, true, LayerWorkspaceMgr.noWorkspaces());
        lossTaken = true;
    }

    @Override
    protected Pair<Gradient, INDArray> calcBackpropGradients(INDArray epsilon, boolean withOutputLayer, boolean tbptt,
                                                             boolean returnInputActGrad) {
        lossTaken = false;
        Pair<Gradient, INDArray> p = super.calcBackpropGradients(epsilon, withOutputLayer, tbptt, returnInputActGrad);
        if (startsFrozen && p != null) {
            // DL4J stopped at the top FrozenLayer: what it returns is the gradient of a layer inside, in a closed
            // workspace, not of the slice's input (the stage sends zeros instead)
            p.setSecond(null);
        }
        if (withOutputLayer && !lossTaken) {
            // Still inside calculateGradients' workspace scope: the output layer's input is valid here.
            loss = ((IOutputLayer) getOutputLayer()).computeScore(0.0, true, LayerWorkspaceMgr.noWorkspaces());
        }
        return p;
    }
}
