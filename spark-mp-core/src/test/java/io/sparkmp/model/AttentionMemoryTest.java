package io.sparkmp.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.sparkmp.plan.ModelProfile;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.LearnedSelfAttentionLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.RecurrentAttentionLayer;
import org.deeplearning4j.nn.conf.layers.SelfAttentionLayer;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.lossfunctions.LossFunctions.LossFunction;

/**
 * The attention layers' working memory per example, by hand (see {@link LayerProfiler#attentionBytesPerExample}):
 * each array three times (forward, the backward's recomputed forward, gradient), FLOAT (4 bytes), 16 features in,
 * 4 heads of 8, 32 out; on top of it what every SameDiff layer is charged (its output and its input gradient).
 */
class AttentionMemoryTest {

    private static ModelProfile profile(Layer attention, int steps) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().dataType(DataType.FLOAT).list()
                .layer(attention).layer(new GlobalPoolingLayer.Builder().build())
                .layer(new OutputLayer.Builder(LossFunction.MCXENT).activation(Activation.SOFTMAX).nOut(3).build())
                .setInputType(InputType.recurrent(16, steps)).build();
        return LayerProfiler.builder().build().analytic(conf, InputType.recurrent(16, steps), 1e10);
    }

    @Test
    void selfAttentionHoldsScoresAndSoftmaxOfTxTPerHead() {
        ModelProfile p = profile(new SelfAttentionLayer.Builder().nHeads(4).headSize(8).nOut(32).projectInput(true)
                .build(), 128);
        // 3 x (scores + softmax: 2 x 4 x 128 x 128, projections: 4 x 4 x 8 x 128) x 4 bytes = 1 769 472;
        // output 32 x 128 x 4 = 16 384; input gradient 16 x 128 x 4 = 8 192.
        assertEquals(1_769_472 + 16_384 + 8_192, p.layer(0).workingBytesPerExample());
    }

    @Test
    void recurrentAttentionProjectsEveryStepAtEveryStep() {
        ModelProfile p = profile(new RecurrentAttentionLayer.Builder().nHeads(4).headSize(8).nOut(32).projectInput(true)
                .activation(Activation.TANH).build(), 32);
        // 3 x (scores + softmax over all steps: 2 x 4 x 32 x 32, keys, values, weighted values per step:
        // 3 x 4 x 8 x 32 x 32) x 4 bytes = 1 277 952; output 32 x 32 x 4 = 4 096; input gradient 16 x 32 x 4 = 2 048.
        assertEquals(1_277_952 + 4_096 + 2_048, p.layer(0).workingBytesPerExample());
    }

    @Test
    void learnedSelfAttentionScoresItsQueriesOnly() {
        ModelProfile p = profile(new LearnedSelfAttentionLayer.Builder().nHeads(4).headSize(8).nOut(32).nQueries(3)
                .projectInput(true).build(), 128);
        // 3 x (2 x 4 x 3 x 128 + 4 x 4 x 8 x 128) x 4 = 233 472; output 32 x 3 x 4 = 384; input gradient 8 192.
        assertEquals(233_472 + 384 + 8_192, p.layer(0).workingBytesPerExample());
    }

    /**
     * A DenseLayer between sequence layers runs at every step (DL4J's RnnToFeedForward preprocessor): 16 steps of
     * a 32 -> 128 dense hold 16 rows per example, and the attention layer after it sees the sequence length again
     * (DL4J's own types lose it there); a global pooling's output is one vector per example.
     */
    @Test
    void denseLayersBetweenSequenceLayersHoldARowPerStep() {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().dataType(DataType.FLOAT).list()
                .layer(new SelfAttentionLayer.Builder().nHeads(4).headSize(8).nOut(32).projectInput(true).build())
                .layer(new org.deeplearning4j.nn.conf.layers.DenseLayer.Builder().nOut(128).build())
                .layer(new SelfAttentionLayer.Builder().nHeads(4).headSize(8).nOut(32).projectInput(true).build())
                .layer(new GlobalPoolingLayer.Builder().build())
                .layer(new OutputLayer.Builder(LossFunction.MCXENT).activation(Activation.SOFTMAX).nOut(3).build())
                .setInputType(InputType.recurrent(16, 16)).build();
        ModelProfile p = LayerProfiler.builder().build().analytic(conf, InputType.recurrent(16, 16), 1e10);
        assertEquals(16 * 128 * 4, p.layer(1).outputBytesPerExample(), "the dense: 16 rows of 128 floats");
        assertEquals(16 * 32 * 4 + 16 * 128 * 4, p.layer(1).keptBytesPerExample(),
                "its input, 16 rows of 32, and its pre-activation, 16 rows of 128");
        assertEquals(2.0 * (32 * 128 + 128) * 16, p.layer(1).forwardFlopsPerExample(), 1e-9);
        // the second attention layer: 3 x (2 x 4 x 16 x 16 + 4 x 4 x 8 x 16) x 4 + output 2 048 + input gradient 8 192
        assertEquals(3 * (2 * 4 * 16 * 16 + 4 * 4 * 8 * 16) * 4 + 2_048 + 8_192, p.layer(2).workingBytesPerExample());
        assertEquals(32 * 4, p.layer(3).outputBytesPerExample(), "the pooling: one vector of 32");
        assertEquals(32 * 4, p.layer(4).keptBytesPerExample(), "the output layer's input: that vector");
    }

    @Test
    void otherLayersAndUnknownLengthsGetNoAttentionBytes() {
        assertEquals(0, LayerProfiler.attentionBytesPerExample(new org.deeplearning4j.nn.conf.layers.LSTM.Builder()
                .nOut(4).build(), InputType.recurrent(16, 128), 4));
        assertEquals(0, LayerProfiler.attentionBytesPerExample(new SelfAttentionLayer.Builder().nHeads(4).headSize(8)
                .nOut(32).projectInput(true).build(), InputType.recurrent(16), 4));
    }
}
