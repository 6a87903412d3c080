package io.sparkmp.model;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.rnn.ReverseTimeSeriesVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.CenterLossOutputLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/** Graphs a pipeline cannot train are rejected before anything runs, naming the vertex and the reason. */
class GraphSupportTest {

    private static NeuralNetConfiguration.Builder base() {
        return new NeuralNetConfiguration.Builder().seed(1).dataType(DataType.DOUBLE);
    }

    private static OutputLayer softmax(int n) {
        return new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX).nOut(n).build();
    }

    private static String rejected(ComputationGraphConfiguration conf) {
        return assertThrows(IllegalArgumentException.class, () -> GraphSupport.validate(conf)).getMessage();
    }

    @Test
    void everyFixtureIsAccepted() {
        for (String name : GraphModels.NAMES) {
            GraphSupport.validate(GraphModels.of(name));
        }
    }

    @Test
    void unsupportedVertexIsNamedWithItsReason() {
        ComputationGraphConfiguration conf = base().graphBuilder().addInputs("seq")
                .setInputTypes(InputType.recurrent(3, 4))
                .addLayer("lstm", new LSTM.Builder().nOut(4).build(), "seq")
                .addVertex("rev", new ReverseTimeSeriesVertex("seq"), "lstm")
                .addLayer("out", new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).activation(Activation.IDENTITY)
                        .nOut(2).build(), "rev")
                .setOutputs("out").build();
        String m = rejected(conf);
        assertTrue(m.startsWith("vertex 'rev' reverses a sequence"), m);
        assertTrue(m.contains("masks are not supported"), m);
    }

    @Test
    void unsupportedLayerAndWeightNoiseAreNamed() {
        ComputationGraphConfiguration center = base().graphBuilder().addInputs("in")
                .setInputTypes(InputType.feedForward(4))
                .addLayer("d", new DenseLayer.Builder().nOut(4).build(), "in")
                .addLayer("center", new CenterLossOutputLayer.Builder().nOut(2).activation(Activation.SOFTMAX).build(), "d")
                .setOutputs("center").build();
        String m = rejected(center);
        assertTrue(m.startsWith("vertex 'center' holds CenterLossOutputLayer"), m);
        ComputationGraphConfiguration dropout = base().graphBuilder().addInputs("in")
                .setInputTypes(InputType.feedForward(4))
                .addLayer("d", new DenseLayer.Builder().nOut(4)
                        .weightNoise(new org.deeplearning4j.nn.conf.weightnoise.DropConnect(0.5)).build(), "in")
                .addLayer("out", softmax(2), "d")
                .setOutputs("out").build();
        m = rejected(dropout);
        assertTrue(m.startsWith("vertex 'd' holds DenseLayer, which uses weight noise DropConnect"), m);
    }

    @Test
    void disconnectedGraphIsRejectedNamingEachPart() {
        ComputationGraphConfiguration conf = base().graphBuilder().addInputs("x", "y")
                .setInputTypes(InputType.feedForward(4), InputType.feedForward(3))
                .addLayer("dx", new DenseLayer.Builder().nOut(4).build(), "x")
                .addLayer("outX", softmax(2), "dx")
                .addLayer("dy", new DenseLayer.Builder().nOut(4).build(), "y")
                .addLayer("outY", softmax(2), "dy")
                .setOutputs("outX", "outY").build();
        String m = rejected(conf);
        assertTrue(m.contains("the graph has 2 disconnected parts ([dx, outX, x]; [dy, outY, y])"), m);
    }

    @Test
    void outputThatIsNotAnOutputLayerIsRejected() {
        ComputationGraphConfiguration conf = base().graphBuilder().addInputs("in")
                .setInputTypes(InputType.feedForward(4))
                .addLayer("d", new DenseLayer.Builder().nOut(4).build(), "in")
                .addLayer("out", softmax(2), "d")
                .setOutputs("out", "d").build();
        String m = rejected(conf);
        assertTrue(m.startsWith("network output 'd' is not an output layer"), m);
    }

    /** What TransferLearning's setFeatureExtractor makes (FrozenLayers and a FrozenVertex) is accepted. */
    @Test
    void transferLearnedGraphIsAccepted() {
        ComputationGraphConfiguration conf = GraphModels.transferLearned().getConfiguration();
        for (String v : conf.getVertices().keySet()) {
            org.junit.jupiter.api.Assertions.assertNull(GraphSupport.rejection(v, conf.getVertices().get(v)), v);
        }
        GraphSupport.validate(conf);
        // a FrozenVertex around a non-layer vertex that reads a graph input, and around a layer vertex (by hand)
        ComputationGraphConfiguration byHand = base().graphBuilder().addInputs("in")
                .setInputTypes(InputType.feedForward(4))
                .addVertex("fz", new org.deeplearning4j.nn.conf.graph.FrozenVertex(
                        new org.deeplearning4j.nn.conf.graph.ScaleVertex(2.0)), "in")
                .addLayer("f", new DenseLayer.Builder().nOut(4).build(), "fz")
                .addLayer("d", new DenseLayer.Builder().nOut(4).build(), "f")
                .addLayer("out", softmax(2), "d")
                .setOutputs("out").build();
        byHand.getVertices().put("f", new org.deeplearning4j.nn.conf.graph.FrozenVertex(byHand.getVertices().get("f")));
        GraphSupport.validate(byHand);
        assertTrue(GraphSupport.isFrozen(byHand.getVertices().get("f")));
        assertTrue(GraphSupport.layerVertex(byHand.getVertices().get("f")) != null);
    }

    /**
     * A vertex that is not frozen but reaches the outputs only through frozen ones would get no gradient
     * (calcBackpropGradients skips frozen vertices, passing nothing to their inputs): rejected naming it.
     */
    @Test
    void aTrainableVertexBelowOnlyFrozenOnesIsRejected() {
        ComputationGraphConfiguration frozen = base().graphBuilder().addInputs("in")
                .setInputTypes(InputType.feedForward(4))
                .addLayer("d", new DenseLayer.Builder().nOut(4).build(), "in")
                .addVertex("fz", new org.deeplearning4j.nn.conf.graph.FrozenVertex(
                        new org.deeplearning4j.nn.conf.graph.ScaleVertex(2.0)), "d")
                .addLayer("out", softmax(2), "fz")
                .setOutputs("out").build();
        String m = rejected(frozen);
        assertTrue(m.startsWith("vertex 'd' is not frozen, but every vertex that reads it ([fz]) is frozen"), m);
        // DL4J's own fit fails there: calcBackpropGradients skips fz, so d's epsilon is never set
        org.deeplearning4j.nn.graph.ComputationGraph g = new org.deeplearning4j.nn.graph.ComputationGraph(frozen);
        g.init();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> g.fit(
                new org.nd4j.linalg.dataset.MultiDataSet(org.nd4j.linalg.factory.Nd4j.rand(DataType.DOUBLE, 3, 4),
                        org.nd4j.linalg.factory.Nd4j.eye(3).getColumns(0, 1).castTo(DataType.DOUBLE))));
        assertTrue(e.getMessage().startsWith("Cannot do backward pass: all epsilons not set. Layer \"d\""),
                e.getMessage());
        ComputationGraphConfiguration frozenLayer = base().graphBuilder().addInputs("in")
                .setInputTypes(InputType.feedForward(4))
                .addLayer("d", new DenseLayer.Builder().nOut(4).build(), "in")
                .addLayer("f", new org.deeplearning4j.nn.conf.layers.misc.FrozenLayer(
                        new DenseLayer.Builder().nIn(4).nOut(4).build()), "d")
                .addLayer("out", softmax(2), "f")
                .setOutputs("out").build();
        m = rejected(frozenLayer);
        assertTrue(m.startsWith("vertex 'd' is not frozen, but every vertex that reads it ([f]) is frozen"), m);
        ComputationGraphConfiguration frozenOut = base().graphBuilder().addInputs("in")
                .setInputTypes(InputType.feedForward(4))
                .addLayer("out", new org.deeplearning4j.nn.conf.layers.misc.FrozenLayer(softmax(2)), "in")
                .setOutputs("out").build();
        m = rejected(frozenOut);
        assertTrue(m.startsWith("network output 'out' is frozen"), m);
    }

    @Test
    void frozenSameDiffVertexAndTruncatedBpttAreRejected() {
        ComputationGraphConfiguration attention = base().graphBuilder().addInputs("seq")
                .setInputTypes(InputType.recurrent(4, 3))
                .addVertex("att", new org.deeplearning4j.nn.conf.graph.FrozenVertex(
                        new org.deeplearning4j.nn.conf.graph.AttentionVertex.Builder().nInKeys(4).nInValues(4).nInQueries(4)
                                .nOut(4).nHeads(1).projectInput(false).build()), "seq", "seq", "seq")
                .addLayer("out", new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).activation(Activation.IDENTITY)
                        .nIn(4).nOut(2).build(), "att")
                .setOutputs("out").build();
        String m = rejected(attention);
        assertTrue(m.startsWith("vertex 'att' is a FrozenVertex around a vertex that is a SameDiff vertex"), m);
        ComputationGraphConfiguration tbptt = base().graphBuilder().addInputs("seq")
                .setInputTypes(InputType.recurrent(3, 4))
                .addLayer("lstm", new LSTM.Builder().nOut(4).build(), "seq")
                .addLayer("out", new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).activation(Activation.IDENTITY)
                        .nOut(2).build(), "lstm")
                .setOutputs("out").backpropType(org.deeplearning4j.nn.conf.BackpropType.TruncatedBPTT)
                .tBPTTForwardLength(2).tBPTTBackwardLength(2).build();
        m = rejected(tbptt);
        assertTrue(m.startsWith("the graph uses truncated BPTT"), m);
    }

    @Test
    void aVertexWhoseOutputNothingReadsIsNamed() {
        ComputationGraphConfiguration conf = base().graphBuilder().addInputs("in")
                .setInputTypes(InputType.feedForward(4))
                .addLayer("d", new DenseLayer.Builder().nOut(4).build(), "in")
                .addLayer("dangling", new DenseLayer.Builder().nOut(3).build(), "in")
                .addLayer("out", softmax(2), "d")
                .setOutputs("out").allowDisconnected(true).build();
        String m = rejected(conf);
        assertTrue(m.startsWith("the output of vertex 'dangling' is read by no vertex"), m);
    }
}
