package io.sparkmp.runtime;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.stream.Stream;

import io.sparkmp.model.ModelAssembler;
import io.sparkmp.model.TestModels;
import io.sparkmp.schedule.ScheduleKind;
import org.deeplearning4j.nn.conf.GradientNormalization;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.RmsProp;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.nd4j.linalg.schedule.ScheduleType;
import org.nd4j.linalg.schedule.StepSchedule;

/**
 * The optimizer step is DL4J's own: gradient normalization (per layer), L1, L2, weight decay and
 * learning-rate schedules behave as in {@code fit} because the summed micro-batch gradient goes through
 * the same updater with the full mini-batch size. Also the cuts inside a time-distributed block of an
 * RNN (2d activations of examples * T rows crossing a cut).
 */
class UpdaterSettingsEquivalenceTest {

    static Stream<Arguments> settings() {
        return Stream.of(
                Arguments.of("clip-l2-per-layer + l1", new Sgd(0.1), GradientNormalization.ClipL2PerLayer, 0.5, 1e-3, 0.0),
                Arguments.of("renormalize-l2-per-layer + weight decay", new RmsProp(0.01), GradientNormalization.RenormalizeL2PerLayer, 1.0, 0.0, 1e-2),
                Arguments.of("clip element-wise + lr schedule", new Sgd(new StepSchedule(ScheduleType.ITERATION, 0.2, 0.5, 2)),
                        GradientNormalization.ClipElementWiseAbsoluteValue, 0.05, 0.0, 0.0));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("settings")
    void optimizerSettingsMatchFit(String name, IUpdater updater, GradientNormalization norm, double threshold, double l1,
                                   double weightDecay) {
        NeuralNetConfiguration.Builder b = new NeuralNetConfiguration.Builder().seed(1).dataType(DataType.DOUBLE)
                .updater(updater).activation(Activation.TANH).gradientNormalization(norm)
                .gradientNormalizationThreshold(threshold);
        if (l1 > 0) {
            b.l1(l1);
        }
        if (weightDecay > 0) {
            b.weightDecay(weightDecay);
        }
        MultiLayerConfiguration conf = b.list()
                .layer(new DenseLayer.Builder().nOut(16).build())
                .layer(new DenseLayer.Builder().nOut(16).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).activation(Activation.IDENTITY).nOut(3).build())
                .setInputType(InputType.feedForward(8)).build();
        check(conf, "mlp", new int[] {0, 1, 2, 3}, ScheduleKind.ONE_F_ONE_B, 3, 4, 5);
        // Two layers with parameters on one stage: from the second micro-batch on they share one gradient
        // scratch buffer, and the per-layer normalization must still see each layer's own summed gradient.
        check(conf, "mlp", new int[] {0, 2, 3}, ScheduleKind.ONE_F_ONE_B, 2, 4, 5);
    }

    @Test
    void cutsInsideTimeDistributedBlockMatchFit() {
        MultiLayerConfiguration conf = TestModels.lstmDense(DataType.DOUBLE, TestModels.Opt.ADAM);
        check(conf, "lstm", new int[] {0, 1, 2, 3, 4}, ScheduleKind.ONE_F_ONE_B, 4, 4, 3);
        check(conf, "lstm", new int[] {0, 2, 4}, ScheduleKind.GPIPE, 2, 8, 3);
    }

    private static void check(MultiLayerConfiguration conf, String data, int[] cuts, ScheduleKind kind, int p, int m, int steps) {
        List<DataSet> ds = TestModels.data(data, DataType.DOUBLE, steps, 16, 11);
        InProcessPipeline.Result r = new InProcessPipeline(PipelineSpec.of(conf, cuts, kind, p, 1, m, 16, TestModels.SEED))
                .fit(ds, 1);
        MultiLayerNetwork ref = TestModels.referenceFit(conf, ds, 1, null);
        double err = TestModels.maxRelativeError(r.parameters(), ModelAssembler.split(ref));
        System.out.println("updater settings / cuts " + java.util.Arrays.toString(cuts) + ": max relative error " + err);
        assertTrue(err <= PipelineEquivalenceTest.DOUBLE_BOUND, "max relative error " + err);
    }
}
