package io.sparkmp.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.util.List;
import java.util.stream.Stream;

import io.sparkmp.model.ModelSlicer;
import io.sparkmp.model.TestModels;
import io.sparkmp.schedule.ScheduleKind;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.dropout.GaussianDropout;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;

/** Bad input is rejected before any work, with a message that names the value and the limit. */
class BadInputTest {

    private static final MultiLayerConfiguration MLP = TestModels.mlp(DataType.DOUBLE, TestModels.Opt.ADAM, 0);

    static Stream<Arguments> badSpecs() {
        ScheduleKind g = ScheduleKind.GPIPE;
        ScheduleKind i = ScheduleKind.INTERLEAVED_1F1B;
        return Stream.of(
                Arguments.of(new int[] {0, 7, 4}, g, 2, 1, 4, 16,
                        "boundaries[1] (7) is out of range [0, 4] (the model has 4 layers)"),
                Arguments.of(new int[] {0, 2, 3}, g, 2, 1, 4, 16, "boundaries must end at the layer count (4), found 3"),
                Arguments.of(new int[] {0, 2, 2, 4}, g, 3, 1, 4, 16,
                        "stage 1 is empty: boundaries[1] (2) must be < boundaries[2] (2)"),
                Arguments.of(new int[] {0, 3, 2, 4}, g, 3, 1, 4, 16,
                        "boundaries must be strictly increasing: boundaries[1] (3) must be < boundaries[2] (2)"),
                Arguments.of(new int[] {1, 2, 4}, g, 2, 1, 4, 16, "boundaries must start at 0, found 1"),
                Arguments.of(new int[] {0, 4}, g, 2, 1, 4, 16,
                        "boundaries must have devices * stagesPerDevice + 1 = 3 entries (2 devices x 1 stages), found 2"),
                Arguments.of(new int[] {0, 2, 4}, g, 2, 1, 3, 64, "microBatches (3) must divide batchSize (64)"),
                Arguments.of(new int[] {0, 2, 4}, g, 2, 1, 0, 64, "microBatches must be positive, found 0"),
                Arguments.of(new int[] {0, 2, 4}, g, 0, 1, 4, 64, "devices must be positive, found 0"),
                Arguments.of(new int[] {0, 1, 2, 3, 4}, g, 2, 2, 4, 16,
                        "stagesPerDevice (2) > 1 needs schedule interleaved, found gpipe"),
                Arguments.of(new int[] {0, 1, 2, 3, 4}, i, 2, 2, 3, 12,
                        "interleaved needs microBatches (3) to be a multiple of stages (2)"));
    }

    @ParameterizedTest(name = "{6}")
    @MethodSource("badSpecs")
    void specRejects(int[] cuts, ScheduleKind kind, int p, int v, int m, int batch, String message) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> PipelineSpec.of(MLP, cuts, kind, p, v, m, batch, 1));
        assertEquals(message, e.getMessage());
    }

    @Test
    void miniBatchNotDivisibleIsRejectedBeforeTraining() {
        PipelineSpec spec = PipelineSpec.of(MLP, new int[] {0, 2, 4}, ScheduleKind.ONE_F_ONE_B, 2, 1, 4, 16, 1);
        List<DataSet> data = List.of(TestModels.data("mlp", DataType.DOUBLE, 1, 16, 1).get(0),
                TestModels.data("mlp", DataType.DOUBLE, 1, 10, 1).get(0));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new InProcessPipeline(spec).fit(data, 1));
        assertEquals("microBatches (4) must divide the size (10) of mini-batch 1", e.getMessage());
    }

    @Test
    void aNaNInTheDataStopsTrainingNamingTheStepStageAndLayer() {
        PipelineSpec spec = PipelineSpec.of(MLP, new int[] {0, 2, 4}, ScheduleKind.ONE_F_ONE_B, 2, 1, 4, 16, 1);
        List<DataSet> data = TestModels.data("mlp", DataType.DOUBLE, 3, 16, 1);
        data.get(2).getFeatures().putScalar(5, 0, Double.NaN); // one example of the third mini-batch
        Throwable e = assertThrows(RuntimeException.class, () -> new InProcessPipeline(spec).fit(data, 1));
        String all = e.getMessage() + (e.getCause() == null ? "" : " / " + e.getCause().getMessage());
        assertTrue(all.contains("non-finite gradient (NaN or infinity) at step 2 on stage "), all);
        assertTrue(all.contains(", first in layer "), all);
    }

    @Test
    void unsupportedLayerIsNamedWithItsIndex() {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().list()
                .layer(new DenseLayer.Builder().nOut(4).build())
                .layer(new org.deeplearning4j.nn.conf.layers.AutoEncoder.Builder().nOut(4).build())
                .layer(new OutputLayer.Builder().nOut(2).build())
                .setInputType(InputType.feedForward(3)).build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> PipelineSpec.of(conf, new int[] {0, 1, 3}, ScheduleKind.GPIPE, 2, 1, 2, 4, 1));
        assertTrue(e.getMessage().startsWith("layer 1 (AutoEncoder) is a pretraining layer: its training forward corrupts "
                + "or samples its input from the thread's random stream"), e.getMessage());
    }

    @Test
    void unsupportedDropoutKindIsNamed() {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().list()
                .layer(new DenseLayer.Builder().nOut(4).dropOut(new CustomDropout()).build())
                .layer(new OutputLayer.Builder().nOut(2).build())
                .setInputType(InputType.feedForward(3)).build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelSlicer.validate(conf));
        assertEquals("layer 0 (DenseLayer) uses dropout CustomDropout: only Dropout, GaussianDropout, GaussianNoise, "
                + "AlphaDropout and SpatialDropout are supported (their masks are regenerated per example, so every split "
                + "trains the same)", e.getMessage());
    }

    /** A user's own dropout kind: the stages cannot regenerate its masks per example. */
    static final class CustomDropout extends GaussianDropout {
        CustomDropout() {
            super(0.1);
        }
    }

    @Test
    void missingInputTypeIsReported() {
        // No setInputType and no nIn: DL4J cannot size the first layer.
        MultiLayerConfiguration noSizes = new NeuralNetConfiguration.Builder().list()
                .layer(new DenseLayer.Builder().nOut(4).build())
                .layer(new OutputLayer.Builder().nOut(2).build()).build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelSlicer.validate(noSizes));
        assertEquals("layer 0 (DenseLayer) has nIn 0: build the configuration with setInputType(...) so DL4J infers "
                + "layer sizes and input preprocessors", e.getMessage());
        // Sizes given by hand, but no CNN -> dense preprocessor (setInputType would have added it).
        MultiLayerConfiguration noPreprocessor = new NeuralNetConfiguration.Builder().list()
                .layer(new ConvolutionLayer.Builder(3, 3).nIn(1).nOut(2).build())
                .layer(new DenseLayer.Builder().nIn(72).nOut(4).build())
                .layer(new OutputLayer.Builder().nIn(4).nOut(2).build()).build();
        e = assertThrows(IllegalArgumentException.class,
                () -> PipelineSpec.of(noPreprocessor, new int[] {0, 1, 3}, ScheduleKind.GPIPE, 2, 1, 1, 4, 1));
        assertEquals("layer 1 (DenseLayer) expects feed-forward input but layer 0 produces convolutional activations and "
                + "there is no input preprocessor: build the configuration with setInputType(...) so DL4J adds one", e.getMessage());
    }

    @Test
    void outputLayerMustBeLast() {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().list()
                .layer(new OutputLayer.Builder().nOut(4).build())
                .layer(new DenseLayer.Builder().nOut(2).build())
                .setInputType(InputType.feedForward(3)).validateOutputLayerConfig(false).build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelSlicer.validate(conf));
        assertEquals("layer 0 (OutputLayer) is an output layer but not the last layer (1)", e.getMessage());
    }

    @Test
    void specSurvivesJavaSerialization() throws Exception {
        PipelineSpec spec = PipelineSpec.of(MLP, new int[] {0, 1, 2, 3, 4}, ScheduleKind.INTERLEAVED_1F1B, 2, 2, 4, 16, 5);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(spec);
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            PipelineSpec back = (PipelineSpec) in.readObject();
            assertEquals(spec, back);
            assertEquals(List.of(1, 3), back.stagesOf(1));
            assertEquals(1, back.rankOf(3));
            assertEquals(java.util.Set.of(0), back.peersOf(1));
        }
        PipelineSpec four = PipelineSpec.of(MLP, new int[] {0, 1, 2, 3, 4}, ScheduleKind.ONE_F_ONE_B, 4, 1, 4, 16, 5);
        // Labels, the step header and the L1/L2 sum travel along the pipeline: neighbours only, no full mesh.
        assertEquals(java.util.Set.of(1), four.peersOf(0));
        assertEquals(java.util.Set.of(0, 2), four.peersOf(1));
        assertEquals(java.util.Set.of(1, 3), four.peersOf(2));
        assertEquals(java.util.Set.of(2), four.peersOf(3));
        {
        }
    }
}
