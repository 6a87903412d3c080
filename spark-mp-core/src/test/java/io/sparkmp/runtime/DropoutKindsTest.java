package io.sparkmp.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.stream.Stream;

import io.sparkmp.model.LayerCases;
import io.sparkmp.model.TestModels;
import io.sparkmp.schedule.ScheduleKind;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.dropout.AlphaDropout;
import org.deeplearning4j.nn.conf.dropout.GaussianDropout;
import org.deeplearning4j.nn.conf.dropout.GaussianNoise;
import org.deeplearning4j.nn.conf.dropout.IDropout;
import org.deeplearning4j.nn.conf.dropout.SpatialDropout;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.DropoutLayer;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.conf.layers.recurrent.Bidirectional;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions.LossFunction;

/**
 * The dropout kinds besides Dropout (GaussianDropout, GaussianNoise, AlphaDropout, SpatialDropout, and dropout
 * inside a wrapped layer) train identically for every split and micro-batch count, as Dropout does
 * (DropoutAndBatchNormTest), and change the training (they are applied).
 */
class DropoutKindsTest {

    private static NeuralNetConfiguration.ListBuilder base() {
        return new NeuralNetConfiguration.Builder().seed(TestModels.SEED).dataType(DataType.DOUBLE).updater(new Adam(0.01))
                .l2(1e-3).activation(Activation.TANH).convolutionMode(ConvolutionMode.Same).list();
    }

    private static OutputLayer out() {
        return new OutputLayer.Builder(LossFunction.MCXENT).activation(Activation.SOFTMAX).nOut(3).build();
    }

    /** dense, dense (dropout kind), dense (dropout kind), output: the noisy layers on either side of the cuts. */
    static MultiLayerConfiguration mlp(IDropout kind) {
        DenseLayer.Builder a = new DenseLayer.Builder().nOut(8);
        DenseLayer.Builder b = new DenseLayer.Builder().nOut(8).activation(Activation.SELU);
        if (kind != null) {
            a.dropOut(kind.clone());
            b.dropOut(kind.clone());
        }
        return base().layer(new DenseLayer.Builder().nOut(8).build()).layer(a.build()).layer(b.build()).layer(out())
                .setInputType(InputType.feedForward(8)).build();
    }

    static MultiLayerConfiguration spatial(boolean on) {
        return base().layer(new ConvolutionLayer.Builder(2, 2).nOut(3).build())
                .layer(on ? new DropoutLayer.Builder(new SpatialDropout(0.7)).build() : new DropoutLayer.Builder().build())
                .layer(new ConvolutionLayer.Builder(2, 2).nOut(2).build()).layer(out())
                .setInputType(InputType.convolutional(6, 6, 2)).build();
    }

    /** Dropout on the LSTM that a Bidirectional wraps: DL4J clones it into the forward and backward layers. */
    static MultiLayerConfiguration wrapped(boolean on) {
        LSTM.Builder inner = new LSTM.Builder().nOut(3);
        if (on) {
            inner.dropOut(0.7);
        }
        return base().layer(new LSTM.Builder().nOut(4).build()).layer(new Bidirectional(inner.build()))
                .layer(new LSTM.Builder().nOut(4).build())
                .layer(new RnnOutputLayer.Builder(LossFunction.MCXENT).activation(Activation.SOFTMAX).nOut(3).build())
                .setInputType(InputType.recurrent(3, 6)).build();
    }

    static Stream<Arguments> kinds() {
        return Stream.of(
                Arguments.of("GaussianDropout", mlp(new GaussianDropout(0.2)), mlp(null), "ff"),
                Arguments.of("GaussianNoise", mlp(new GaussianNoise(0.2)), mlp(null), "ff"),
                Arguments.of("AlphaDropout", mlp(new AlphaDropout(0.8)), mlp(null), "ff"),
                Arguments.of("SpatialDropout", spatial(true), spatial(false), "cnn"),
                Arguments.of("Dropout inside Bidirectional", wrapped(true), wrapped(false), "rnn"));
    }

    private static InProcessPipeline.Result train(MultiLayerConfiguration conf, String data, ScheduleKind kind, int m,
                                                  int[] cuts, boolean stash) {
        List<DataSet> ds = LayerCases.data(data, 5, 16, 8);
        PipelineSpec spec = PipelineSpec.of(conf, cuts, kind, cuts.length - 1, 1, m, 16, TestModels.SEED);
        if (stash) {
            spec = spec.withRecompute(new boolean[cuts.length - 1]);
        }
        return new InProcessPipeline(spec).fit(ds, 1);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("kinds")
    void everySplitTrainsIdenticallyAndTheNoiseIsApplied(String name, MultiLayerConfiguration with,
                                                          MultiLayerConfiguration without, String data) {
        InProcessPipeline.Result single = train(with, data, ScheduleKind.GPIPE, 1, new int[] {0, 4}, false);
        for (Object[] split : new Object[][] {{ScheduleKind.ONE_F_ONE_B, 4, new int[] {0, 1, 2, 4}, false},
                {ScheduleKind.GPIPE, 2, new int[] {0, 2, 3, 4}, true}}) {
            InProcessPipeline.Result r = train(with, data, (ScheduleKind) split[0], (int) split[1], (int[]) split[2],
                    (boolean) split[3]);
            double err = TestModels.maxRelativeError(r.parameters(), single.parameters());
            System.out.println(name + " " + split[0] + " M=" + split[1] + " vs 1 stage, M=1: " + err);
            assertTrue(err <= 1e-12, name + ": split differs from the single-stage run by " + err);
            for (int i = 0; i < single.losses().size(); i++) {
                assertEquals(single.losses().get(i), r.losses().get(i), 1e-12 * Math.abs(single.losses().get(i)));
            }
        }
        InProcessPipeline.Result off = train(without, data, ScheduleKind.GPIPE, 1, new int[] {0, 4}, false);
        double diff = TestModels.maxRelativeError(single.parameters(), off.parameters());
        assertTrue(diff > 1e-3, name + " made no difference (" + diff + ")");
    }
}
