package io.sparkmp.model;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;

import org.deeplearning4j.nn.api.MaskState;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.layers.Convolution1DLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.Subsampling1DLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.conf.layers.recurrent.LastTimeStep;
import org.deeplearning4j.nn.conf.layers.samediff.SameDiffLayer;
import org.deeplearning4j.nn.conf.layers.util.MaskZeroLayer;
import org.deeplearning4j.util.ConvolutionUtils;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * How the model's features mask changes on its way from the model input to a stage's first layer: through the
 * preprocessors and layers of the stages before it, from their configurations alone (a stage holds no upstream
 * layer objects). The mask every rank receives is the model's; each stage brings it to the form its first layer
 * sees, as DL4J's {@code MultiLayerNetwork.feedForwardMaskArray} would have by then. This is what lets masks of
 * variable-length sequences cross cuts after layers that change them.
 *
 * <p>Per layer, mirroring DL4J 1.0.0-M2.1's runtime layers: Convolution1DLayer and Subsampling1DLayer reduce
 * the time axis of the mask as they reduce the sequence (DL4J's {@code cnn1dMaskReduction}); 2d convolution
 * and subsampling reduce a 4d mask the same way; GlobalPoolingLayer and LastTimeStep consume it (none after);
 * SameDiff layers (the attention layers) apply their configuration's own rule; wrappers delegate to the layer
 * they wrap; every other layer passes it on unchanged.
 */
final class MaskFlow implements Serializable {

    private static final long serialVersionUID = 1L;

    /** One step: a preprocessor or a layer configuration. */
    private final List<Object> steps;

    private MaskFlow(List<Object> steps) {
        this.steps = steps;
    }

    /** The preprocessors and layers of {@code conf} before layer {@code layer}, in order. */
    static MaskFlow upTo(MultiLayerConfiguration conf, int layer) {
        List<Object> steps = new ArrayList<>();
        for (int i = 0; i < layer; i++) {
            InputPreProcessor p = conf.getInputPreProcess(i);
            if (p != null) {
                steps.add(p.clone());
            }
            steps.add(conf.getConf(i).getLayer().clone());
        }
        return new MaskFlow(steps);
    }

    /** The mask at the end of the flow, or null when a step consumed it. */
    Pair<INDArray, MaskState> apply(INDArray mask, MaskState state, int miniBatchSize) {
        INDArray m = mask;
        MaskState s = state;
        for (Object step : steps) {
            if (m == null) {
                return null;
            }
            Pair<INDArray, MaskState> next = step instanceof InputPreProcessor p ? p.feedForwardMaskArray(m, s, miniBatchSize)
                    : through((Layer) step, m, s, miniBatchSize);
            if (next == null || next.getFirst() == null) {
                return null;
            }
            m = next.getFirst();
            s = next.getSecond();
        }
        return Pair.of(m, s);
    }

    /** The mask after {@code layer}, as DL4J's runtime layer of that configuration returns it (null: consumed). */
    static Pair<INDArray, MaskState> through(Layer layer, INDArray mask, MaskState state, int miniBatchSize) {
        if (layer instanceof Convolution1DLayer c) {
            return Pair.of(ConvolutionUtils.cnn1dMaskReduction(mask, c.getKernelSize()[0], c.getStride()[0],
                    c.getPadding()[0], c.getDilation()[0], c.getConvolutionMode()), state);
        }
        if (layer instanceof Subsampling1DLayer c) {
            return Pair.of(ConvolutionUtils.cnn1dMaskReduction(mask, c.getKernelSize()[0], c.getStride()[0],
                    c.getPadding()[0], c.getDilation()[0], c.getConvolutionMode()), state);
        }
        if (layer instanceof ConvolutionLayer c && mask.rank() == 4) {
            return Pair.of(ConvolutionUtils.cnn2dMaskReduction(mask, c.getKernelSize(), c.getStride(), c.getPadding(),
                    c.getDilation(), c.getConvolutionMode()), state);
        }
        if (layer instanceof SubsamplingLayer c && mask.rank() == 4) {
            return Pair.of(ConvolutionUtils.cnn2dMaskReduction(mask, c.getKernelSize(), c.getStride(), c.getPadding(),
                    c.getDilation(), c.getConvolutionMode()), state);
        }
        if (layer instanceof GlobalPoolingLayer || layer instanceof LastTimeStep) {
            return null;
        }
        if (layer instanceof SameDiffLayer sd) {
            return sd.feedForwardMaskArray(mask, state, miniBatchSize);
        }
        if (layer instanceof MaskZeroLayer) {
            // Its own zero-input mask applies inside it only; what follows sees the mask of the wrapped layer.
            return through(((MaskZeroLayer) layer).getUnderlying(), mask, state, miniBatchSize);
        }
        List<Layer> inner = LayerSupport.inner(layer);
        if (inner.size() == 1) {
            return through(inner.get(0), mask, state, miniBatchSize);
        }
        return Pair.of(mask, state);
    }
}
