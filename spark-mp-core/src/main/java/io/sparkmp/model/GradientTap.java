package io.sparkmp.model;

import java.util.function.IntConsumer;

import org.deeplearning4j.nn.api.MaskState;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The input preprocessor slot of one layer, used as a hook between layers of DL4J's backward: DL4J's
 * {@code MultiLayerNetwork} runs a layer's input preprocessor backward right after the layer's own backward,
 * for every layer, before the layer below starts. {@link StageSlice} puts a tap on each layer with parameters
 * so that it can add the layer's fresh gradient (written into a layer-sized scratch buffer) to the step's sum
 * before the next layer's backward overwrites the scratch. Otherwise it is the layer's own preprocessor
 * ({@code inner}) or, without one, the identity: the forward, masks and output types are unchanged.
 *
 * <p>Runtime only: a tap never appears in a configuration that is written or sent anywhere.
 */
final class GradientTap implements InputPreProcessor {

    private static final long serialVersionUID = 1L;

    private final InputPreProcessor inner;
    private final transient IntConsumer afterBackward;
    private final int layer;

    /**
     * @param inner the layer's own preprocessor, or null
     * @param afterBackward called with {@code layer} after the layer's backward (before {@code inner}'s)
     * @param layer the layer's index within its network
     */
    GradientTap(InputPreProcessor inner, IntConsumer afterBackward, int layer) {
        this.inner = inner;
        this.afterBackward = afterBackward;
        this.layer = layer;
    }

    /** The layer's own preprocessor, or null. */
    InputPreProcessor inner() {
        return inner;
    }

    @Override
    public INDArray preProcess(INDArray input, int miniBatchSize, LayerWorkspaceMgr workspaceMgr) {
        return inner == null ? input : inner.preProcess(input, miniBatchSize, workspaceMgr);
    }

    @Override
    public INDArray backprop(INDArray output, int miniBatchSize, LayerWorkspaceMgr workspaceMgr) {
        afterBackward.accept(layer);
        return inner == null ? output : inner.backprop(output, miniBatchSize, workspaceMgr);
    }

    @Override
    public GradientTap clone() {
        return new GradientTap(inner == null ? null : inner.clone(), afterBackward, layer);
    }

    @Override
    public InputType getOutputType(InputType inputType) {
        return inner == null ? inputType : inner.getOutputType(inputType);
    }

    @Override
    public Pair<INDArray, MaskState> feedForwardMaskArray(INDArray maskArray, MaskState currentMaskState, int minibatchSize) {
        return inner == null ? new Pair<>(maskArray, currentMaskState)
                : inner.feedForwardMaskArray(maskArray, currentMaskState, minibatchSize);
    }
}
