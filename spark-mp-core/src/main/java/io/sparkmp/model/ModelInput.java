package io.sparkmp.model;

import java.io.Serializable;
import java.util.List;

import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BaseRecurrentLayer;
import org.deeplearning4j.nn.conf.layers.Convolution1DLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.EmbeddingLayer;
import org.deeplearning4j.nn.conf.layers.EmbeddingSequenceLayer;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.conf.layers.recurrent.Bidirectional;
import org.deeplearning4j.nn.conf.layers.LearnedSelfAttentionLayer;
import org.deeplearning4j.nn.conf.layers.LocallyConnected1D;
import org.deeplearning4j.nn.conf.layers.RecurrentAttentionLayer;
import org.deeplearning4j.nn.conf.layers.SelfAttentionLayer;
import org.deeplearning4j.nn.conf.preprocessor.FeedForwardToCnn3DPreProcessor;
import org.deeplearning4j.nn.conf.preprocessor.FeedForwardToCnnPreProcessor;
import org.deeplearning4j.nn.conf.preprocessor.FeedForwardToRnnPreProcessor;

/**
 * What one example of a model's input looks like as a flat row of numbers (a CSV line, a {@code Dataset<Row>}
 * features vector), read from the model itself: the first layer's preprocessor and configuration, which
 * {@code setInputType} fixed. A MultiLayerConfiguration does not keep the input type, so it is recovered:
 * <ul>
 *   <li>a convolutional-flat input ({@code InputType.convolutionalFlat(h, w, c)}: DL4J's
 *       FeedForwardToCnnPreProcessor at layer 0) is {@code h * w * c} values; a 3d one {@code d * h * w * c};</li>
 *   <li>an EmbeddingLayer first takes one index column; an EmbeddingSequenceLayer its {@code inputLength}
 *       index columns (one per time step);</li>
 *   <li>a recurrent first layer (LSTM, SimpleRnn, Bidirectional, attention, Convolution1D...) takes {@code nIn}
 *       values per time step: a row of {@code nIn * T} values, feature-major ({@code [nIn, T]} in c order), for
 *       any {@code T}: {@link #fixedWidth} is -1 and {@link #perStep} {@code nIn};</li>
 *   <li>any other first layer with {@code nIn} (dense, output...) takes {@code nIn} values.</li>
 * </ul>
 */
@io.sparkmp.Internal
public final class ModelInput implements Serializable {

    private static final long serialVersionUID = 1L;

    private final String description;
    private final long fixedWidth;
    private final long perStep;
    private final long[] exampleShape;
    private final InputType inputType;

    private ModelInput(String description, long fixedWidth, long perStep, long[] exampleShape, InputType inputType) {
        this.inputType = inputType;
        this.description = description;
        this.fixedWidth = fixedWidth;
        this.perStep = perStep;
        this.exampleShape = exampleShape;
    }

    /** The input of {@code conf}, or null when the first layer does not tell it (e.g. a convolution without input type). */
    public static ModelInput of(MultiLayerConfiguration conf) {
        return of(conf.getInputPreProcess(0), conf.getConf(0).getLayer());
    }

    /**
     * The flat-row input of a one-input ComputationGraph, read from the layer vertices the input feeds (their
     * preprocessors and configurations, which {@code setInputTypes} fixed, as for a MultiLayerConfiguration's first
     * layer); null when the graph has several inputs, when a non-layer vertex reads the input, when the layers do
     * not tell a fixed width or disagree (the width is unknown then, not checked).
     */
    public static ModelInput of(org.deeplearning4j.nn.conf.ComputationGraphConfiguration graph) {
        if (graph.getNetworkInputs().size() != 1) {
            return null;
        }
        String in = graph.getNetworkInputs().get(0);
        ModelInput found = null;
        for (java.util.Map.Entry<String, List<String>> e : graph.getVertexInputs().entrySet()) {
            if (!e.getValue().contains(in)) {
                continue;
            }
            org.deeplearning4j.nn.conf.graph.LayerVertex lv = GraphSupport.layerVertex(graph.getVertices().get(e.getKey()));
            if (lv == null) { // (a layer vertex in a FrozenVertex counts as the layer vertex)
                return null;
            }
            ModelInput m = of(lv.getPreProcessor(), lv.getLayerConf().getLayer());
            if (m == null || m.fixedWidth <= 0 || (found != null && found.fixedWidth != m.fixedWidth)) {
                return null;
            }
            found = m;
        }
        return found;
    }

    private static ModelInput of(InputPreProcessor pre, Layer first) {
        if (pre instanceof FeedForwardToCnnPreProcessor p) {
            long w = p.getInputHeight() * p.getInputWidth() * p.getNumChannels();
            return new ModelInput("convolutionalFlat(" + p.getInputHeight() + ", " + p.getInputWidth() + ", "
                    + p.getNumChannels() + ")", w, -1, new long[] {w},
                    InputType.convolutionalFlat(p.getInputHeight(), p.getInputWidth(), p.getNumChannels()));
        }
        if (pre instanceof FeedForwardToCnn3DPreProcessor p) {
            long w = p.getInputDepth() * p.getInputHeight() * p.getInputWidth() * p.getNumChannels();
            return new ModelInput("convolutional3D flat (" + p.getInputDepth() + ", " + p.getInputHeight() + ", "
                    + p.getInputWidth() + ", " + p.getNumChannels() + ")", w, -1, new long[] {w}, InputType.feedForward(w));
        }
        if (first instanceof EmbeddingSequenceLayer e && e.getInputLength() > 0) {
            return new ModelInput("an EmbeddingSequenceLayer of input length " + e.getInputLength() + " (one index column "
                    + "per time step)", e.getInputLength(), -1, new long[] {e.getInputLength()},
                    InputType.feedForward(e.getInputLength()));
        }
        if (first instanceof EmbeddingLayer) {
            return new ModelInput("an EmbeddingLayer (one index column)", 1, -1, new long[] {1}, InputType.feedForward(1));
        }
        long nIn = nIn(first);
        if (nIn <= 0) {
            return null;
        }
        if (pre instanceof FeedForwardToRnnPreProcessor || !recurrent(first)) {
            return new ModelInput("feedForward(" + nIn + ")", nIn, -1, new long[] {nIn}, InputType.feedForward(nIn));
        }
        return new ModelInput("recurrent(" + nIn + ") (" + nIn + " values per time step)", -1, nIn, null, null);
    }

    /** Values per example when fixed, or -1 for a recurrent input of any length. */
    public long fixedWidth() {
        return fixedWidth;
    }

    /** Values per time step of a recurrent input, or -1. */
    public long perStep() {
        return perStep;
    }

    /**
     * The input type a flat row of this input has for DL4J (the planner's profile), or null for a recurrent input
     * (its length is not in the model).
     */
    public InputType inputType() {
        return inputType;
    }

    /** The input type in words, for messages, e.g. "convolutionalFlat(8, 8, 1)". */
    public String describe() {
        return description;
    }

    /** Whether a row of {@code width} feature values fits this input. */
    public boolean fits(long width) {
        return fixedWidth > 0 ? width == fixedWidth : width > 0 && width % perStep == 0;
    }

    /** What a row must hold, e.g. "64 features (convolutionalFlat(8, 8, 1))". */
    public String expected() {
        return (fixedWidth > 0 ? fixedWidth + " features" : "a multiple of " + perStep + " features") + " (" + description + ")";
    }

    /** Why a row of {@code width} values does not fit, naming both numbers, or null when it does. */
    public String mismatch(long width) {
        return fits(width) ? null : width + " values, but the model input expects " + expected();
    }

    /** The shape of one example given a row of {@code width} values: {@code [width]}, or {@code [nIn, T]}. */
    public long[] exampleShape(long width) {
        if (perStep > 0) {
            return new long[] {perStep, width / perStep};
        }
        return exampleShape.clone();
    }

    private static boolean recurrent(Layer l) {
        if (l instanceof BaseRecurrentLayer || l instanceof RnnOutputLayer || l instanceof Convolution1DLayer
                || l instanceof Bidirectional || l instanceof SelfAttentionLayer || l instanceof LearnedSelfAttentionLayer
                || l instanceof RecurrentAttentionLayer || l instanceof LocallyConnected1D) {
            return true;
        }
        List<Layer> inner = LayerSupport.inner(l);
        return inner.size() == 1 && recurrent(inner.get(0));
    }

    private static long nIn(Layer l) {
        if (l instanceof ConvolutionLayer && !(l instanceof Convolution1DLayer) || l instanceof SubsamplingLayer) {
            return -1; // channels, not a width: a 4d input without convolutionalFlat has no flat form
        }
        if (l instanceof FeedForwardLayer ff) {
            return ff.getNIn();
        }
        if (l instanceof Bidirectional b) {
            return b.getNIn();
        }
        List<Layer> inner = LayerSupport.inner(l);
        if (inner.size() == 1) {
            return nIn(inner.get(0));
        }
        if (l instanceof SelfAttentionLayer a) {
            return a.getNIn();
        }
        if (l instanceof LearnedSelfAttentionLayer a) {
            return a.getNIn();
        }
        if (l instanceof RecurrentAttentionLayer a) {
            return a.getNIn();
        }
        if (l instanceof LocallyConnected1D a) {
            return a.getNIn();
        }
        return -1;
    }
}
