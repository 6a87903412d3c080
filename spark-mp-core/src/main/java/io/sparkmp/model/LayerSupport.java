package io.sparkmp.model;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.deeplearning4j.nn.conf.dropout.IDropout;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.BaseOutputLayer;
import org.deeplearning4j.nn.conf.layers.BasePretrainNetwork;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.CenterLossOutputLayer;
import org.deeplearning4j.nn.conf.layers.Cnn3DLossLayer;
import org.deeplearning4j.nn.conf.layers.CnnLossLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.DropoutLayer;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.LearnedSelfAttentionLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.RnnLossLayer;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.deeplearning4j.nn.conf.layers.objdetect.Yolo2OutputLayer;
import org.deeplearning4j.nn.conf.layers.recurrent.Bidirectional;
import org.deeplearning4j.nn.conf.layers.samediff.SameDiffOutputLayer;
import org.deeplearning4j.nn.conf.layers.wrapper.BaseWrapperLayer;
import org.deeplearning4j.nn.conf.ocnn.OCNNOutputLayer;
import org.deeplearning4j.nn.params.EmptyParamInitializer;

/**
 * The one table of which DL4J layer configurations a pipeline stage runs, and how. Issue 16
 * (ComputationGraph vertices) extends it here.
 *
 * <p><b>The rule.</b> A layer runs in a stage, on either side of a cut, when {@code MultiLayerNetwork.fit}
 * trains it by its own {@code backpropGradient} and its training forward treats the examples of a batch
 * independently: one example's output and parameter gradient depend only on that example's input and mask,
 * the parameters, and randomness that this project keys by example (the dropout kinds of
 * {@link ExampleSeededDropout}). Then the sum of the micro-batches' gradients is the mini-batch's
 * gradient, whatever the cuts, and the stage runs the layer through DL4J's own forward and backward with
 * no code of its own for that layer. Everything in DL4J 1.0.0-M2.1 passes except what {@link #rejection}
 * names:
 * <ul>
 *   <li>pretraining layers (AutoEncoder, VariationalAutoencoder): their training forward corrupts or samples
 *       from the thread's random stream, which no split into micro-batches reproduces;</li>
 *   <li>layers whose gradient mixes the examples of a batch: CenterLossOutputLayer (the centre update is
 *       divided by the batch's per-class counts), OCNNOutputLayer (its r is a quantile over the batch);</li>
 *   <li>a FrozenLayer above a layer that is not a FrozenLayer: its backward returns no input gradient, so in
 *       DL4J's own fit the layers below it get none and fail; frozen bottom layers (what TransferLearning's
 *       feature extractor makes) are supported, and so is FrozenLayerWithBackprop anywhere;</li>
 *   <li>TimeDistributed with a features mask that masks out steps ({@link #MASKED_TIME_DISTRIBUTED}; a mask is data,
 *       so a stage refuses it when the first such micro-batch arrives); unmasked, TimeDistributed is supported;</li>
 *   <li>LearnedSelfAttentionLayer: DL4J 1.0.0-M2.1's own forward of it fails (a scatter_update op), so there is
 *       nothing to match;</li>
 *   <li>weight noise (DropConnect, WeightNoise: one draw per mini-batch from the thread's random stream)
 *       and dropout kinds other than Dropout, GaussianDropout, GaussianNoise, AlphaDropout and
 *       SpatialDropout (custom ones: their masks cannot be regenerated per example).</li>
 * </ul>
 * BatchNormalization is the one exception kept on purpose: it uses per-micro-batch statistics, a bounded,
 * documented difference (exact with one micro-batch).
 *
 * <p>Wrappers (Bidirectional, LastTimeStep, MaskZeroLayer, FrozenLayerWithBackprop) are checked through the layers they wrap.
 */
final class LayerSupport {

    /** Rejected configuration classes (and their subclasses), with the reason. */
    private static final Map<Class<? extends Layer>, String> REJECTED = new LinkedHashMap<>();

    static {
        REJECTED.put(BasePretrainNetwork.class, "is a pretraining layer: its training forward corrupts or samples its "
                + "input from the thread's random stream, which no split into micro-batches reproduces");
        REJECTED.put(CenterLossOutputLayer.class, "computes its centre gradient with a division by the per-class "
                + "example counts of the whole batch: state across examples, so micro-batch gradients do not sum to the "
                + "batch gradient");
        REJECTED.put(OCNNOutputLayer.class, "sets its r parameter from a quantile of the scores over the batch: "
                + "state across examples");
        REJECTED.put(LearnedSelfAttentionLayer.class, "does not run in DL4J 1.0.0-M2.1 itself: its forward tiles the "
                + "learned queries over the batch with a scatter_update op that fails, so MultiLayerNetwork.output and fit "
                + "fail on it too and there is no training to match; SelfAttentionLayer (then a GlobalPoolingLayer for one "
                + "vector per sequence) is supported");
    }

    /**
     * Why a TimeDistributed layer cannot take a features mask with masked steps: DL4J 1.0.0-M2.1's
     * TimeDistributedLayer lays its input out example-major (row e x T + t) but its mask time-major (row t x B + e),
     * so in DL4J's own fit one example's mask falls on another example's steps and what an example trains on depends
     * on the batch it is in (LayerSupportTest shows DL4J's own output doing so).
     */
    static final String MASKED_TIME_DISTRIBUTED = "got a features mask with masked steps: DL4J 1.0.0-M2.1's "
            + "TimeDistributed lays its input out example by example but its mask step by step, so in DL4J's own fit one "
            + "example's mask falls on other examples' steps and an example's training depends on the batch it is in: "
            + "there is no per-example training to match. Train it on unmasked (full-length) sequences, or use a plain "
            + "DenseLayer between recurrent layers (DL4J then adds its own time distribution, which is supported with "
            + "masks)";

    /**
     * Layers whose backward reads only the input its forward saw (and the parameters): a stage may keep their
     * inputs (the activation stash) and skip the forward before the backward. Every other layer makes its stage
     * recompute (measured: see the per-layer equivalence tests, which run every layer in both modes).
     */
    private static final Set<Class<? extends Layer>> STASH_SAFE = Set.of(DenseLayer.class, OutputLayer.class,
            ConvolutionLayer.class, SubsamplingLayer.class, DropoutLayer.class, ActivationLayer.class, LSTM.class,
            RnnOutputLayer.class);

    private LayerSupport() {
    }

    /**
     * Why {@code layer} cannot run in a pipeline stage, or null when it can (see the class comment for the rule).
     * Checks the layer's class, its dropout and weight noise, and the layers it wraps.
     */
    public static String rejection(Layer layer) {
        for (Map.Entry<Class<? extends Layer>, String> e : REJECTED.entrySet()) {
            if (e.getKey().isInstance(layer)) {
                return e.getValue();
            }
        }
        IDropout d = layer.getIDropout();
        if (d != null && !ExampleSeededDropout.supports(d)) {
            return "uses dropout " + d.getClass().getSimpleName() + ": only " + ExampleSeededDropout.SUPPORTED
                    + " are supported (their masks are regenerated per example, so every split trains the same)";
        }
        if (layer instanceof BaseLayer b && b.getWeightNoise() != null) {
            return "uses weight noise " + b.getWeightNoise().getClass().getSimpleName() + ": it draws one set of weights per "
                    + "mini-batch from the thread's random stream, which no split into micro-batches reproduces";
        }
        for (Layer inner : inner(layer)) {
            String why = rejection(inner);
            if (why != null) {
                return "wraps " + inner.getClass().getSimpleName() + ", which " + why;
            }
        }
        return null;
    }

    /**
     * Why layer {@code i} of {@code layers} cannot run where it sits, or null: a FrozenLayer returns no input gradient,
     * so every layer below it must be a FrozenLayer too (as in DL4J's own fit, where a trainable layer below one gets
     * no gradient and fails); a stage whose first layer is frozen then sends back zeros, which the frozen stages
     * below ignore.
     */
    static String placement(List<Layer> layers, int i) {
        if (!(layers.get(i) instanceof FrozenLayer)) {
            return null;
        }
        for (int j = 0; j < i; j++) {
            if (!(layers.get(j) instanceof FrozenLayer)) {
                return "is a FrozenLayer above layer " + j + " (" + layers.get(j).getClass().getSimpleName() + "), which "
                        + "is not frozen: a FrozenLayer's backward returns no input gradient, so layer " + j + " would get "
                        + "none (DL4J's fit fails there too); freeze every layer below it (TransferLearning's "
                        + "setFeatureExtractor does) or use FrozenLayerWithBackprop";
            }
        }
        return null;
    }

    /** The layers {@code layer} wraps (empty for a plain layer). */
    public static List<Layer> inner(Layer layer) {
        List<Layer> out = new ArrayList<>();
        if (layer instanceof BaseWrapperLayer w && w.getUnderlying() != null) {
            out.add(w.getUnderlying());
        } else if (layer instanceof FrozenLayer f && f.getLayer() != null) {
            out.add(f.getLayer());
        } else if (layer instanceof Bidirectional b) {
            out.add(b.getFwd());
            if (b.getBwd() != null && b.getBwd() != b.getFwd()) {
                out.add(b.getBwd());
            }
        }
        return out;
    }

    /** Whether {@code layer} is an output layer (DL4J computes the loss there): it must be last, and only last. */
    public static boolean isOutput(Layer layer) {
        return layer instanceof BaseOutputLayer || layer instanceof LossLayer || layer instanceof CnnLossLayer
                || layer instanceof RnnLossLayer || layer instanceof Cnn3DLossLayer || layer instanceof Yolo2OutputLayer
                || layer instanceof SameDiffOutputLayer;
    }

    /**
     * Whether the stage holding {@code layer} must recompute forwards before backwards: the layer's backward reads
     * state its forward left in the layer object beyond its input (BatchNormalization's batch statistics,
     * LastTimeStep's last-step indices, a wrapper's inner state), or it is not one of the layers measured safe.
     */
    public static boolean needsRecompute(Layer layer) {
        return layer instanceof BatchNormalization || !STASH_SAFE.contains(layer.getClass());
    }

    /**
     * Whether {@code layer} must know its input size ({@code nIn}) from setInputType: every {@link FeedForwardLayer}
     * with parameters (DropoutLayer and the loss layers have none and take any width).
     */
    static boolean needsNIn(Layer layer) {
        return layer instanceof FeedForwardLayer && !(layer.initializer() instanceof EmptyParamInitializer);
    }
}
