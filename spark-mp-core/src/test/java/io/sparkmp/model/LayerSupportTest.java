package io.sparkmp.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.AutoEncoder;
import org.deeplearning4j.nn.conf.layers.CenterLossOutputLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.LearnedSelfAttentionLayer;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.deeplearning4j.nn.conf.layers.recurrent.Bidirectional;
import org.deeplearning4j.nn.conf.layers.recurrent.TimeDistributed;
import org.deeplearning4j.nn.conf.layers.variational.VariationalAutoencoder;
import org.deeplearning4j.nn.conf.weightnoise.DropConnect;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.lossfunctions.LossFunctions.LossFunction;

/** The support table's rejections: before any network is built, naming the layer index, its class and why. */
class LayerSupportTest {

    private static MultiLayerConfiguration ff(Layer middle, Layer last) {
        return new NeuralNetConfiguration.Builder().seed(1).list().layer(new DenseLayer.Builder().nOut(4).build())
                .layer(middle).layer(last).setInputType(InputType.feedForward(5)).build();
    }

    private static OutputLayer out() {
        return new OutputLayer.Builder(LossFunction.MCXENT).activation(Activation.SOFTMAX).nOut(3).build();
    }

    private static void rejected(MultiLayerConfiguration conf, String... parts) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelSlicer.validate(conf));
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), "expected `" + p + "` in: " + e.getMessage());
        }
    }

    @Test
    void rejectedLayersNameIndexClassAndReason() {
        rejected(ff(new AutoEncoder.Builder().nOut(3).build(), out()), "layer 1 (AutoEncoder) is a pretraining layer");
        rejected(ff(new VariationalAutoencoder.Builder().nOut(3).encoderLayerSizes(4).decoderLayerSizes(4).build(), out()),
                "layer 1 (VariationalAutoencoder) is a pretraining layer");
        rejected(ff(new DenseLayer.Builder().nOut(3).build(), new CenterLossOutputLayer.Builder().nOut(3).build()),
                "layer 2 (CenterLossOutputLayer)", "per-class example counts of the whole batch");
        rejected(ff(new FrozenLayer(new DenseLayer.Builder().nOut(3).build()), out()), "layer 1 (FrozenLayer)",
                "use FrozenLayerWithBackprop");
        rejected(ff(new DenseLayer.Builder().nOut(3).weightNoise(new DropConnect(0.5)).build(), out()),
                "layer 1 (DenseLayer) uses weight noise DropConnect");
        // a wrapped layer is checked too
        MultiLayerConfiguration bi = new NeuralNetConfiguration.Builder().seed(1).list()
                .layer(new Bidirectional(new LSTM.Builder().nOut(4).weightNoise(new DropConnect(0.5)).build()))
                .layer(new RnnOutputLayer.Builder().nOut(3).build()).setInputType(InputType.recurrent(3, 5)).build();
        rejected(bi, "layer 0 (Bidirectional) wraps LSTM, which uses weight noise DropConnect");
    }

    /**
     * LearnedSelfAttentionLayer is rejected because DL4J's own forward of it fails: checked here, so that a DL4J
     * where it runs makes this test fail and the layer can move into the matrix.
     */
    @Test
    void learnedSelfAttentionIsRejectedBecauseDl4jItselfCannotRunIt() {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(1).list()
                .layer(new LSTM.Builder().nOut(4).build())
                .layer(new LearnedSelfAttentionLayer.Builder().nHeads(2).headSize(3).nOut(4).nQueries(3).projectInput(true)
                        .build())
                .layer(new GlobalPoolingLayer.Builder().build()).layer(out())
                .setInputType(InputType.recurrent(3, 6)).build();
        rejected(conf, "layer 1 (LearnedSelfAttentionLayer) does not run in DL4J 1.0.0-M2.1 itself", "scatter_update");
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        RuntimeException e = assertThrows(RuntimeException.class,
                () -> net.output(org.nd4j.linalg.factory.Nd4j.rand(4, 3, 6)));
        StringBuilder chain = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            chain.append(t).append(" / ");
        }
        assertTrue(chain.toString().contains("scatter_update"), chain.toString());
    }

    /** LSTM, then {@code middle} (4 wide), then LSTM and RnnOutput, DOUBLE: the middle layer sees masked LSTM output. */
    private static MultiLayerNetwork sequenceNet(Layer middle) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(7)
                .dataType(org.nd4j.linalg.api.buffer.DataType.DOUBLE).activation(Activation.TANH).list()
                .layer(new LSTM.Builder().nOut(4).build()).layer(middle).layer(new LSTM.Builder().nOut(4).build())
                .layer(new RnnOutputLayer.Builder(LossFunction.MCXENT).activation(Activation.SOFTMAX).nOut(3).build())
                .setInputType(InputType.recurrent(3, 6)).build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    /**
     * Why TimeDistributed takes no masked steps: in DL4J 1.0.0-M2.1 itself, with a features mask, the output of an
     * example depends on the batch it is in (here: example 1 of a batch of two, against the same example alone),
     * while the same model with a plain DenseLayer (DL4J's own time distribution) gives the same output either way.
     * A DL4J that fixes TimeDistributed makes this test fail, and the refusal can go.
     */
    @Test
    void timeDistributedWithAMaskMixesExamplesInDl4jsOwnFit() {
        java.util.Random r = new java.util.Random(3);
        org.nd4j.linalg.api.ndarray.INDArray x = LayerCases.gauss(r, 2, 3, 6);
        org.nd4j.linalg.api.ndarray.INDArray mask = org.nd4j.linalg.factory.Nd4j.ones(
                org.nd4j.linalg.api.buffer.DataType.DOUBLE, 2, 6);
        for (int t = 3; t < 6; t++) {
            mask.putScalar(1, t, 0.0); // example 1 is 3 steps long, example 0 is 6
        }
        org.nd4j.linalg.indexing.INDArrayIndex one = org.nd4j.linalg.indexing.NDArrayIndex.interval(1, 2);
        org.nd4j.linalg.indexing.INDArrayIndex all = org.nd4j.linalg.indexing.NDArrayIndex.all();
        org.nd4j.linalg.indexing.INDArrayIndex valid = org.nd4j.linalg.indexing.NDArrayIndex.interval(0, 3);
        double[] gap = new double[2];
        Layer[] middles = {new TimeDistributed(new DenseLayer.Builder().nOut(4).build()), new DenseLayer.Builder().nOut(4).build()};
        for (int k = 0; k < 2; k++) {
            MultiLayerNetwork net = sequenceNet(middles[k]);
            org.nd4j.linalg.api.ndarray.INDArray inBatch = net.output(x, false, mask, null).get(one, all, valid);
            org.nd4j.linalg.api.ndarray.INDArray alone = net.output(x.get(one, all, all).dup(), false,
                    mask.get(one, all).dup(), null).get(all, all, valid);
            gap[k] = inBatch.sub(alone).amaxNumber().doubleValue();
        }
        assertTrue(gap[0] > 1e-3, "TimeDistributed: example 1's valid steps differ between its batch and alone by " + gap[0]);
        assertTrue(gap[1] < 1e-12, "DenseLayer: example 1's valid steps differ between its batch and alone by " + gap[1]);
    }

    /** A stage refuses a mask with masked steps at a TimeDistributed layer, naming the layer and why; unmasked runs. */
    @Test
    void aStageRefusesMaskedStepsAtTimeDistributed() {
        MultiLayerConfiguration conf = sequenceNet(new TimeDistributed(new DenseLayer.Builder().nOut(4).build()))
                .getLayerWiseConfigurations();
        ModelSlicer.validate(conf);
        StageSlice slice = ModelSlicer.slice(conf, new int[] {0, 1, 4}, 1, 7, null);
        org.nd4j.linalg.api.ndarray.INDArray x = org.nd4j.linalg.factory.Nd4j.rand(
                org.nd4j.linalg.api.buffer.DataType.DOUBLE, 2, 4, 6);
        org.nd4j.linalg.api.ndarray.INDArray labels = org.nd4j.linalg.factory.Nd4j.zeros(
                org.nd4j.linalg.api.buffer.DataType.DOUBLE, 2, 3, 6);
        labels.get(org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.point(0)).assign(1);
        org.nd4j.linalg.api.ndarray.INDArray mask = org.nd4j.linalg.factory.Nd4j.ones(
                org.nd4j.linalg.api.buffer.DataType.DOUBLE, 2, 6);
        slice.beginStep(0, 0, 2);
        slice.forward(0, x, mask);
        slice.backwardWithLabels(0, labels, mask); // all steps valid: nothing is mixed
        mask.putScalar(1, 5, 0.0);
        slice.beginStep(1, 0, 2);
        slice.forward(0, x, mask);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> slice.backwardWithLabels(0, labels, mask));
        assertTrue(e.getMessage().startsWith("layer 1 (TimeDistributed) got a features mask with masked steps"), e.getMessage());
        assertTrue(e.getMessage().contains("one example's mask falls on other examples' steps"), e.getMessage());
        slice.release();
    }

    @Test
    void everyLayerOfTheMatrixIsSupported() {
        for (LayerCases.Case c : LayerCases.all()) {
            MultiLayerConfiguration conf = c.build();
            for (int i = 0; i < conf.getConfs().size(); i++) {
                assertNull(LayerSupport.rejection(conf.getConf(i).getLayer()), c + " layer " + i);
            }
            ModelSlicer.validate(conf, c.cutsAround());
        }
    }

    @Test
    void masksFollowTheLayersBeforeACut() {
        // Convolution1D in truncate mode shortens the sequence and its mask; global pooling consumes the mask.
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(1).list()
                .layer(new org.deeplearning4j.nn.conf.layers.Convolution1DLayer.Builder(3).nOut(2)
                        .convolutionMode(org.deeplearning4j.nn.conf.ConvolutionMode.Truncate).build())
                .layer(new LSTM.Builder().nOut(2).build())
                .layer(new org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer.Builder().build())
                .layer(out()).setInputType(InputType.recurrent(3, 6)).build();
        org.nd4j.linalg.api.ndarray.INDArray mask = org.nd4j.linalg.factory.Nd4j.ones(2, 6);
        mask.putScalar(1, 5, 0.0);
        var atLstm = MaskFlow.upTo(conf, 1).apply(mask, org.deeplearning4j.nn.api.MaskState.Active, 2);
        assertEquals(List.of(2L, 4L), List.of(atLstm.getFirst().shape()[0], atLstm.getFirst().shape()[1]));
        assertNull(MaskFlow.upTo(conf, 3).apply(mask, org.deeplearning4j.nn.api.MaskState.Active, 2));
    }
}
