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

    @Test
    void otherLayersAndUnknownLengthsGetNoAttentionBytes() {
        assertEquals(0, LayerProfiler.attentionBytesPerExample(new org.deeplearning4j.nn.conf.layers.LSTM.Builder()
                .nOut(4).build(), InputType.recurrent(16, 128), 4));
        assertEquals(0, LayerProfiler.attentionBytesPerExample(new SelfAttentionLayer.Builder().nHeads(4).headSize(8)
                .nOut(32).projectInput(true).build(), InputType.recurrent(16), 4));
    }
}
