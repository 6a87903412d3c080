package io.sparkmp.model;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import org.deeplearning4j.nn.conf.BackpropType;
import org.deeplearning4j.nn.conf.CacheMode;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.DropoutLayer;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.conf.preprocessor.CnnToFeedForwardPreProcessor;
import org.deeplearning4j.nn.conf.preprocessor.CnnToRnnPreProcessor;
import org.deeplearning4j.nn.conf.preprocessor.FeedForwardToCnnPreProcessor;
import org.deeplearning4j.nn.conf.preprocessor.FeedForwardToRnnPreProcessor;
import org.deeplearning4j.nn.conf.preprocessor.RnnToCnnPreProcessor;
import org.deeplearning4j.nn.conf.preprocessor.RnnToFeedForwardPreProcessor;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Cuts a DL4J {@link MultiLayerConfiguration} into contiguous pipeline stages and builds the runnable
 * {@link StageSlice} of one stage.
 *
 * <p>Stage {@code s} holds layers {@code [boundaries[s], boundaries[s + 1])}. An input preprocessor
 * belongs to the layer it feeds: at a cut it runs on the receiving stage, so the activation that
 * crosses the cut is the raw output of the sending layer (e.g. 4d for a convolution followed by a dense
 * layer).
 *
 * <p>Misuse: configurations built without {@code setInputType(...)} usually lack layer sizes and
 * preprocessors; they are rejected with a message that names the layer. Every check runs before any
 * network is built.
 */
@io.sparkmp.Internal
public final class ModelSlicer {

    /**
     * The layer classes of DL4J 1.0.0-M2.1 whose input kind the slicer checks against the previous layer's output
     * (exact classes; any other layer's input is checked by DL4J when the stage is built).
     */
    private static final Set<Class<? extends Layer>> KIND_CHECKED = Set.of(DenseLayer.class, OutputLayer.class,
            ConvolutionLayer.class, SubsamplingLayer.class, LSTM.class, RnnOutputLayer.class);

    private enum Kind { FF, CNN, RNN }

    private ModelSlicer() {
    }

    /**
     * Checks stage boundaries against a model of {@code numLayers} layers.
     *
     * @throws IllegalArgumentException naming the offending entry, e.g.
     *     "stage 2 is empty: boundaries[2] (3) must be < boundaries[3] (3)"
     */
    public static void validateBoundaries(int[] boundaries, int numLayers) {
        if (boundaries == null) {
            throw new IllegalArgumentException("boundaries must not be null");
        }
        if (boundaries.length < 2) {
            throw new IllegalArgumentException("boundaries must have at least 2 entries (one stage), found "
                    + boundaries.length);
        }
        if (boundaries[0] != 0) {
            throw new IllegalArgumentException("boundaries must start at 0, found " + boundaries[0]);
        }
        for (int i = 0; i < boundaries.length; i++) {
            if (boundaries[i] < 0 || boundaries[i] > numLayers) {
                throw new IllegalArgumentException("boundaries[" + i + "] (" + boundaries[i]
                        + ") is out of range [0, " + numLayers + "] (the model has " + numLayers + " layers)");
            }
        }
        for (int s = 0; s + 1 < boundaries.length; s++) {
            if (boundaries[s] == boundaries[s + 1]) {
                throw new IllegalArgumentException("stage " + s + " is empty: boundaries[" + s + "] (" + boundaries[s]
                        + ") must be < boundaries[" + (s + 1) + "] (" + boundaries[s + 1] + ")");
            }
            if (boundaries[s] > boundaries[s + 1]) {
                throw new IllegalArgumentException("boundaries must be strictly increasing: boundaries[" + s + "] ("
                        + boundaries[s] + ") must be < boundaries[" + (s + 1) + "] (" + boundaries[s + 1] + ")");
            }
        }
        int last = boundaries[boundaries.length - 1];
        if (last != numLayers) {
            throw new IllegalArgumentException("boundaries must end at the layer count (" + numLayers + "), found "
                    + last);
        }
    }

    /**
     * Checks that every layer of {@code conf} can run as (part of) a pipeline stage: supported layer
     * types (the rule of {@link LayerSupport}), an output layer last and only last,
     * standard backprop, and layer sizes/preprocessors present (i.e. the configuration was built with
     * {@code setInputType}).
     *
     * @throws IllegalArgumentException naming the layer index and class
     */
    public static void validate(MultiLayerConfiguration conf) {
        if (conf == null) {
            throw new IllegalArgumentException("configuration must not be null");
        }
        int n = conf.getConfs().size();
        if (n == 0) {
            throw new IllegalArgumentException("the configuration has no layers");
        }
        if (conf.getBackpropType() != BackpropType.Standard) {
            throw new IllegalArgumentException("backprop type " + conf.getBackpropType()
                    + " is not supported: pipeline stages run standard backprop");
        }
        Kind kind = null;
        for (int i = 0; i < n; i++) {
            Layer layer = conf.getConf(i).getLayer();
            String name = describe(i, layer);
            String why = LayerSupport.rejection(layer);
            if (why == null) {
                why = LayerSupport.placement(layersOf(conf), i);
            }
            if (why != null) {
                throw new IllegalArgumentException(name + " " + why);
            }
            boolean output = LayerSupport.isOutput(layer);
            if (output && i != n - 1) {
                throw new IllegalArgumentException(name + " is an output layer but not the last layer (" + (n - 1) + ")");
            }
            if (!output && i == n - 1) {
                throw new IllegalArgumentException("the last " + name + " must be an output layer (an output or loss layer)");
            }
            if (LayerSupport.needsNIn(layer) && ((FeedForwardLayer) layer).getNIn() <= 0) {
                throw new IllegalArgumentException(name + " has nIn " + ((FeedForwardLayer) layer).getNIn()
                        + ": build the configuration with setInputType(...) so DL4J infers layer sizes and input preprocessors");
            }
            InputPreProcessor pre = conf.getInputPreProcess(i);
            if (pre != null) {
                kind = outputKind(pre, kind);
            }
            Kind needs = inputKind(layer);
            if (needs != null && kind != null && needs != kind) {
                throw new IllegalArgumentException(name + " expects " + label(needs) + " input but layer " + (i - 1)
                        + " produces " + label(kind) + " activations and there is no input preprocessor: build the"
                        + " configuration with setInputType(...) so DL4J adds one");
            }
            // A layer the slicer does not know may change the activation kind (e.g. Convolution1D: recurrent out).
            kind = KIND_CHECKED.contains(layer.getClass()) ? layerOutputKind(layer) : null;
        }
    }

    /** {@link #validate(MultiLayerConfiguration)} plus {@link #validateBoundaries}. */
    public static void validate(MultiLayerConfiguration conf, int[] boundaries) {
        validate(conf);
        validateBoundaries(boundaries, conf.getConfs().size());
    }

    /**
     * The configuration of layers {@code [from, to)} as a network of its own: cloned layer configurations,
     * preprocessors shifted to the slice's indices, the model's data type, standard backprop, no output
     * layer check (inner slices end in a hidden layer) and DL4J's workspaces on: working memory is reused from
     * call to call instead of freshly allocated (measured on a 3x3 convolution, micro-batch 8: 8x fewer page
     * faults and 26/38 ms forward/backward instead of 28-45/45-90 ms); what a stage keeps across passes (its
     * inputs, the activations it returns, the input gradient) is detached from them.
     */
    public static MultiLayerConfiguration sliceConfiguration(MultiLayerConfiguration conf, int from, int to) {
        if (from < 0 || to > conf.getConfs().size() || from >= to) {
            throw new IllegalArgumentException("layer range [" + from + ", " + to + ") is not a non-empty range of the "
                    + conf.getConfs().size() + " layers");
        }
        List<NeuralNetConfiguration> confs = new ArrayList<>();
        Map<Integer, InputPreProcessor> pre = new HashMap<>();
        for (int i = from; i < to; i++) {
            confs.add(conf.getConf(i).clone());
            InputPreProcessor p = conf.getInputPreProcess(i);
            if (p != null) {
                pre.put(i - from, p.clone());
            }
        }
        return new MultiLayerConfiguration.Builder().confs(confs).inputPreProcessors(pre)
                .backpropType(BackpropType.Standard).validateOutputLayerConfig(false)
                .trainingWorkspaceMode(WorkspaceMode.ENABLED).inferenceWorkspaceMode(WorkspaceMode.ENABLED)
                .cacheMode(CacheMode.NONE).dataType(conf.getDataType()).build();
    }

    /**
     * Builds the runnable stage {@code stage} of the split {@code boundaries}.
     *
     * @param conf the full model (validated here)
     * @param boundaries stage boundaries, length numStages + 1
     * @param stage which stage, in [0, numStages)
     * @param seed model seed: initial weights (when {@code params} is null) and dropout masks derive from it
     * @param params per-layer parameters (global layer index to rank-1 vector), or null for the
     *     deterministic initialisation of {@link LayerParameters#initial}; entries of other stages are ignored
     * @throws IllegalArgumentException for an invalid model, boundaries or parameters
     */
    public static StageSlice slice(MultiLayerConfiguration conf, int[] boundaries, int stage, long seed,
                                   Map<Integer, INDArray> params) {
        return slice(conf, boundaries, stage, seed, params, true);
    }

    /**
     * As {@link #slice(MultiLayerConfiguration, int[], int, long, Map)}, choosing whether the stage recomputes
     * forwards or keeps its layer inputs (see {@link StageSlice}). The stage's parameters are made in place in
     * one flat array (no per-layer copies that would double the stage's memory while it starts).
     */
    public static StageSlice slice(MultiLayerConfiguration conf, int[] boundaries, int stage, long seed,
                                   Map<Integer, INDArray> params, boolean recompute) {
        return slice(conf, boundaries, stage, seed, params, recompute, false);
    }

    /**
     * As {@link #slice(MultiLayerConfiguration, int[], int, long, Map, boolean)}, choosing whether the stage
     * applies the optimizer to each layer as soon as its backward is done ({@code fusedUpdate}: for steps of one
     * micro-batch only; the stage then never holds more than one layer's gradient, see {@link StageSlice}).
     */
    public static StageSlice slice(MultiLayerConfiguration conf, int[] boundaries, int stage, long seed,
                                   Map<Integer, INDArray> params, boolean recompute, boolean fusedUpdate) {
        validate(conf, boundaries);
        int numStages = boundaries.length - 1;
        if (stage < 0 || stage >= numStages) {
            throw new IllegalArgumentException("stage " + stage + " is out of range [0, " + numStages + ")");
        }
        int from = boundaries[stage];
        int to = boundaries[stage + 1];
        long total = 0;
        for (int i = from; i < to; i++) {
            long expected = LayerParameters.numParams(conf, i);
            INDArray p = params == null ? null : params.get(i);
            if (expected > 0 && params != null && (p == null || p.length() != expected)) {
                throw new IllegalArgumentException("parameters of " + describe(i, conf.getConf(i).getLayer()) + " must have "
                        + expected + " values, found " + (p == null ? "none" : p.length()));
            }
            total += expected;
        }
        INDArray flat = total == 0 ? null : Nd4j.create(conf.getDataType(), 1, total);
        long offset = 0;
        for (int i = from; i < to; i++) {
            long n = LayerParameters.numParams(conf, i);
            if (n == 0) {
                continue;
            }
            INDArray view = flat.get(NDArrayIndex.interval(0, 0, true), NDArrayIndex.interval(offset, offset + n));
            if (params == null) {
                LayerParameters.initialInto(conf, i, seed, view);
            } else {
                view.assign(params.get(i).reshape(1, n).castTo(conf.getDataType()));
            }
            offset += n;
        }
        MultiLayerConfiguration sliceConf = sliceConfiguration(conf, from, to);
        ExampleSeededDropout.Context dropoutContext = StageLayers.seedDropouts(sliceConf, from, seed);
        SliceNetwork net = new SliceNetwork(sliceConf);
        if (flat == null) {
            net.init();
        } else {
            net.init(flat, false);
        }
        return new StageSlice(stage, numStages, from, to, net, MaskFlow.upTo(conf, from), dropoutContext, recompute,
                fusedUpdate);
    }

    static String describe(int index, Layer layer) {
        return "layer " + index + " (" + layer.getClass().getSimpleName() + ")";
    }

    private static Kind inputKind(Layer layer) {
        if (!KIND_CHECKED.contains(layer.getClass())) {
            return null;
        }
        if (layer instanceof ConvolutionLayer || layer instanceof SubsamplingLayer) {
            return Kind.CNN;
        }
        if (layer instanceof LSTM || layer instanceof RnnOutputLayer) {
            return Kind.RNN;
        }
        if (layer instanceof DenseLayer || layer instanceof OutputLayer) {
            return Kind.FF;
        }
        return null;
    }

    private static Kind layerOutputKind(Layer layer) {
        return inputKind(layer);
    }

    private static Kind outputKind(InputPreProcessor pre, Kind current) {
        if (pre instanceof CnnToFeedForwardPreProcessor || pre instanceof RnnToFeedForwardPreProcessor) {
            return Kind.FF;
        }
        if (pre instanceof FeedForwardToCnnPreProcessor || pre instanceof RnnToCnnPreProcessor) {
            return Kind.CNN;
        }
        if (pre instanceof FeedForwardToRnnPreProcessor || pre instanceof CnnToRnnPreProcessor) {
            return Kind.RNN;
        }
        return null;
    }

    private static String label(Kind k) {
        return switch (k) {
            case FF -> "feed-forward";
            case CNN -> "convolutional";
            case RNN -> "recurrent";
        };
    }

    private static List<org.deeplearning4j.nn.conf.layers.Layer> layersOf(MultiLayerConfiguration conf) {
        List<org.deeplearning4j.nn.conf.layers.Layer> out = new java.util.ArrayList<>();
        for (int j = 0; j < conf.getConfs().size(); j++) {
            out.add(conf.getConf(j).getLayer());
        }
        return out;
    }
}
