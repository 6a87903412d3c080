package io.sparkmp.model;

import static io.sparkmp.model.LayerCases.gauss;
import static io.sparkmp.model.LayerCases.oneHot;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.graph.L2NormalizeVertex;
import org.deeplearning4j.nn.conf.graph.L2Vertex;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.graph.PreprocessorVertex;
import org.deeplearning4j.nn.conf.graph.ReshapeVertex;
import org.deeplearning4j.nn.conf.graph.ScaleVertex;
import org.deeplearning4j.nn.conf.graph.ShiftVertex;
import org.deeplearning4j.nn.conf.graph.StackVertex;
import org.deeplearning4j.nn.conf.graph.SubsetVertex;
import org.deeplearning4j.nn.conf.graph.UnstackVertex;
import org.deeplearning4j.nn.conf.graph.rnn.DuplicateToTimeSeriesVertex;
import org.deeplearning4j.nn.conf.graph.rnn.LastTimeStepVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.conf.preprocessor.CnnToFeedForwardPreProcessor;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.transferlearning.FineTuneConfiguration;
import org.deeplearning4j.nn.transferlearning.TransferLearning;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * Shared ComputationGraph fixtures (double precision, Adam with L2) and the DL4J reference training: a residual
 * CNN, a two-input two-output model, an Inception-style merge and a sequence model. Together they use every vertex
 * of {@link GraphSupport#SUPPORTED}.
 */
public final class GraphModels {

    public static final long SEED = 4321L;

    private GraphModels() {
    }

    /** The fixtures by name. */
    public static final List<String> NAMES = List.of("residual", "twoInTwoOut", "inception", "sequence");

    public static ComputationGraphConfiguration of(String name) {
        return switch (name) {
            case "residual" -> residualCnn();
            case "twoInTwoOut" -> twoInTwoOut();
            case "inception" -> inception();
            case "sequence" -> sequence();
            case "transfer" -> transferLearned().getConfiguration(); // not in NAMES: its own test, GraphFrozenTest
            default -> throw new IllegalArgumentException("no graph fixture " + name);
        };
    }

    private static NeuralNetConfiguration.Builder base() {
        return new NeuralNetConfiguration.Builder().seed(SEED).dataType(DataType.DOUBLE).updater(new Adam(0.01))
                .l2(1e-3).activation(Activation.TANH);
    }

    /** conv0 -> conv1 -> conv2, add(conv0, conv2) -> pool -> dense -> out: the skip spans conv1 and conv2. */
    public static ComputationGraphConfiguration residualCnn() {
        return base().convolutionMode(ConvolutionMode.Same).graphBuilder()
                .addInputs("in")
                .setInputTypes(InputType.convolutional(6, 6, 2))
                .addLayer("conv0", new ConvolutionLayer.Builder(3, 3).nOut(3).build(), "in")
                .addLayer("conv1", new ConvolutionLayer.Builder(3, 3).nOut(3).build(), "conv0")
                .addLayer("conv2", new ConvolutionLayer.Builder(3, 3).nOut(3).activation(Activation.IDENTITY).build(), "conv1")
                .addVertex("add", new ElementWiseVertex(ElementWiseVertex.Op.Add), "conv0", "conv2")
                .addLayer("pool", new SubsamplingLayer.Builder(2, 2).stride(2, 2).build(), "add")
                .addLayer("dense", new DenseLayer.Builder().nOut(6).build(), "pool")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX)
                        .nOut(3).build(), "dense")
                .setOutputs("out")
                .build();
    }

    /** Inputs a (6) and b (4); outputs outA (softmax 3) and outB (MSE 2); merge, subtract, L2 distance, reshape. */
    public static ComputationGraphConfiguration twoInTwoOut() {
        return base().graphBuilder()
                .addInputs("a", "b")
                .setInputTypes(InputType.feedForward(6), InputType.feedForward(4))
                .addLayer("da", new DenseLayer.Builder().nOut(8).build(), "a")
                .addLayer("db", new DenseLayer.Builder().nOut(8).build(), "b")
                .addVertex("m", new MergeVertex(), "da", "db")
                .addLayer("h", new DenseLayer.Builder().nOut(8).build(), "m")
                .addLayer("outA", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX)
                        .nOut(3).build(), "h")
                .addVertex("diff", new ElementWiseVertex(ElementWiseVertex.Op.Subtract), "h", "db")
                .addVertex("norm", new L2NormalizeVertex(), "diff")
                .addVertex("dist", new L2Vertex(), "da", "db")
                .addVertex("r", new ReshapeVertex(-1, 8), "norm")
                .addVertex("both", new MergeVertex(), "r", "dist")
                .addLayer("outB", new OutputLayer.Builder(LossFunctions.LossFunction.MSE).activation(Activation.IDENTITY)
                        .nOut(2).build(), "both")
                .setOutputs("outA", "outB")
                .build();
    }

    /** stem -> {1x1, 3x3, pool -> 1x1} merged, stack/unstack average, max, shift, scale, preprocessor, dense, out. */
    public static ComputationGraphConfiguration inception() {
        return base().convolutionMode(ConvolutionMode.Same).graphBuilder()
                .addInputs("in")
                .setInputTypes(InputType.convolutional(4, 4, 2))
                .addLayer("stem", new ConvolutionLayer.Builder(3, 3).nOut(4).build(), "in")
                .addLayer("b1", new ConvolutionLayer.Builder(1, 1).nOut(3).build(), "stem")
                .addLayer("b2", new ConvolutionLayer.Builder(3, 3).nOut(3).build(), "stem")
                .addLayer("b3pool", new SubsamplingLayer.Builder(SubsamplingLayer.PoolingType.MAX, new int[] {3, 3},
                        new int[] {1, 1}).build(), "stem")
                .addLayer("b3", new ConvolutionLayer.Builder(1, 1).nOut(3).build(), "b3pool")
                .addVertex("stack", new StackVertex(), "b1", "b2")
                .addVertex("u0", new UnstackVertex(0, 2), "stack")
                .addVertex("u1", new UnstackVertex(1, 2), "stack")
                .addVertex("avg", new ElementWiseVertex(ElementWiseVertex.Op.Average), "u0", "u1")
                .addVertex("max", new ElementWiseVertex(ElementWiseVertex.Op.Max), "b2", "b3")
                .addVertex("prod", new ElementWiseVertex(ElementWiseVertex.Op.Product), "b1", "b3")
                .addVertex("merge", new MergeVertex(), "avg", "max", "prod")
                .addVertex("shift", new ShiftVertex(0.1), "merge")
                .addVertex("scale", new ScaleVertex(0.5), "shift")
                .addVertex("flat", new PreprocessorVertex(new CnnToFeedForwardPreProcessor(4, 4, 9)), "scale")
                .addLayer("dense", new DenseLayer.Builder().nOut(6).build(), "flat")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX)
                        .nOut(3).build(), "dense")
                .setOutputs("out")
                .build();
    }

    /** lstm -> last step -> dense -> duplicated over seq's length, merged with lstm and a subset -> lstm2 -> out. */
    public static ComputationGraphConfiguration sequence() {
        return base().graphBuilder()
                .addInputs("seq")
                .setInputTypes(InputType.recurrent(3, 5))
                .addLayer("lstm", new LSTM.Builder().nOut(6).build(), "seq")
                .addVertex("last", new LastTimeStepVertex("seq"), "lstm")
                .addLayer("dense", new DenseLayer.Builder().nOut(4).build(), "last")
                .addVertex("dup", new DuplicateToTimeSeriesVertex("seq"), "dense")
                .addVertex("part", new SubsetVertex(0, 2), "lstm")
                .addVertex("merge", new MergeVertex(), "dup", "part")
                .addLayer("lstm2", new LSTM.Builder().nOut(5).build(), "merge")
                .addLayer("out", new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).activation(Activation.IDENTITY)
                        .nOut(2).build(), "lstm2")
                .setOutputs("out")
                .build();
    }

    /** {@code conf} with dropout (retain probability {@code p}) on the input of every dense and output layer. */
    public static ComputationGraphConfiguration withDropout(ComputationGraphConfiguration conf, double p) {
        ComputationGraphConfiguration c = conf.clone();
        for (org.deeplearning4j.nn.conf.graph.GraphVertex v : c.getVertices().values()) {
            if (v instanceof org.deeplearning4j.nn.conf.graph.LayerVertex lv
                    && lv.getLayerConf().getLayer() instanceof org.deeplearning4j.nn.conf.layers.FeedForwardLayer layer
                    && (layer instanceof DenseLayer || layer instanceof OutputLayer)) {
                layer.setIDropout(new org.deeplearning4j.nn.conf.dropout.Dropout(p));
            }
        }
        return c;
    }

    /** The residual CNN with a BatchNormalization after conv1 (inside the skip). */
    public static ComputationGraphConfiguration residualBatchNorm() {
        return base().convolutionMode(ConvolutionMode.Same).graphBuilder()
                .addInputs("in")
                .setInputTypes(InputType.convolutional(6, 6, 2))
                .addLayer("conv0", new ConvolutionLayer.Builder(3, 3).nOut(3).build(), "in")
                .addLayer("conv1", new ConvolutionLayer.Builder(3, 3).nOut(3).build(), "conv0")
                .addLayer("bn", new org.deeplearning4j.nn.conf.layers.BatchNormalization.Builder().build(), "conv1")
                .addLayer("conv2", new ConvolutionLayer.Builder(3, 3).nOut(3).activation(Activation.IDENTITY).build(), "bn")
                .addVertex("add", new ElementWiseVertex(ElementWiseVertex.Op.Add), "conv0", "conv2")
                .addLayer("pool", new SubsamplingLayer.Builder(2, 2).stride(2, 2).build(), "add")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX)
                        .nOut(3).build(), "pool")
                .setOutputs("out")
                .build();
    }

    /**
     * The graph {@link #transferLearned} starts from: d0 -> d1 -> add(d0, d1) -> d2 -> merge(d2, add) -> d3 -> out,
     * dense layers of 6 (d3: 4) on 5 inputs, softmax 3; the skip from add crosses the frozen boundary.
     */
    public static ComputationGraphConfiguration transferBase() {
        return base().graphBuilder()
                .addInputs("in")
                .setInputTypes(InputType.feedForward(5))
                .addLayer("d0", new DenseLayer.Builder().nOut(6).build(), "in")
                .addLayer("d1", new DenseLayer.Builder().nOut(6).build(), "d0")
                .addVertex("add", new ElementWiseVertex(ElementWiseVertex.Op.Add), "d0", "d1")
                .addLayer("d2", new DenseLayer.Builder().nOut(6).build(), "add")
                .addVertex("m", new MergeVertex(), "d2", "add")
                .addLayer("d3", new DenseLayer.Builder().nOut(4).build(), "m")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX)
                        .nOut(3).build(), "d3")
                .setOutputs("out")
                .build();
    }

    /**
     * A fresh transfer-learned graph, the same every call: {@link #transferBase} initialised from {@link #SEED}
     * ({@link GraphParameters#initial}), through {@code TransferLearning.GraphBuilder} with a fine-tune
     * configuration (Adam 0.02, L2 1e-3) and {@code setFeatureExtractor("add")}: d0 and d1 become FrozenLayers, add a
     * FrozenVertex; d2, m, d3 and out train; converted back to double (see below). Its configuration is what a
     * pipeline trains, its parameters the start.
     */
    public static ComputationGraph transferLearned() {
        ComputationGraphConfiguration conf = transferBase();
        ComputationGraph g = new ComputationGraph(conf);
        g.init();
        GraphParameters.assign(g, GraphParameters.initial(conf, SEED));
        return new TransferLearning.GraphBuilder(g)
                .fineTuneConfiguration(new FineTuneConfiguration.Builder().updater(new Adam(0.02)).l2(1e-3).seed(SEED)
                        .build())
                .setFeatureExtractor("add")
                .build()
                // TransferLearning's rebuilt configuration is FLOAT whatever the original's type (its builder's
                // default): back to double, frozen vertices and all, as a user comparing to 1e-9 would
                .convertDataType(DataType.DOUBLE);
    }

    /** Copies of a graph's layer parameters by vertex name (layer vertices with parameters). */
    public static Map<String, INDArray> parametersOf(ComputationGraph g) {
        return GraphParameters.of(g, java.util.Arrays.stream(g.getVertices())
                .map(org.deeplearning4j.nn.graph.vertex.GraphVertex::getVertexName).toList());
    }

    /** Random mini-batches for fixture {@code name}: features per input, labels per output. */
    public static List<MultiDataSet> data(String name, int batches, int batchSize, long seed) {
        Random r = new Random(seed);
        List<MultiDataSet> out = new ArrayList<>();
        for (int i = 0; i < batches; i++) {
            int n = batchSize;
            out.add(switch (name) {
                case "dense4" -> mds(new INDArray[] {gauss(r, n, 4)}, new INDArray[] {oneHot(r, n, 3)});
                case "transfer" -> mds(new INDArray[] {gauss(r, n, 5)}, new INDArray[] {oneHot(r, n, 3)});
                case "residual" -> mds(new INDArray[] {gauss(r, n, 2, 6, 6)}, new INDArray[] {oneHot(r, n, 3)});
                case "twoInTwoOut" -> mds(new INDArray[] {gauss(r, n, 6), gauss(r, n, 4)},
                        new INDArray[] {oneHot(r, n, 3), gauss(r, n, 2)});
                case "inception" -> mds(new INDArray[] {gauss(r, n, 2, 4, 4)}, new INDArray[] {oneHot(r, n, 3)});
                case "sequence" -> mds(new INDArray[] {gauss(r, n, 3, 5)}, new INDArray[] {gauss(r, n, 2, 5)});
                default -> throw new IllegalArgumentException("no graph fixture " + name);
            });
        }
        return out;
    }

    private static MultiDataSet mds(INDArray[] f, INDArray[] l) {
        return new org.nd4j.linalg.dataset.MultiDataSet(f, l);
    }

    /** DL4J's own training from the deterministic initial parameters: the graph, and its score after each fit. */
    public record Reference(ComputationGraph graph, List<Double> scores) {
    }

    public static Reference referenceFit(ComputationGraphConfiguration conf, List<MultiDataSet> batches, int epochs,
                                         long seed) {
        ComputationGraph g = new ComputationGraph(conf.clone());
        g.init();
        Map<String, INDArray> initial = GraphParameters.initial(conf, seed);
        GraphParameters.assign(g, initial);
        List<Double> scores = new ArrayList<>();
        for (int e = 0; e < epochs; e++) {
            for (MultiDataSet ds : batches) {
                g.fit(ds);
                scores.add(g.score());
            }
        }
        return new Reference(g, scores);
    }
}
