package io.sparkmp.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

import io.sparkmp.model.LayerCases;
import io.sparkmp.model.LayerParameters;
import io.sparkmp.model.ModelAssembler;
import io.sparkmp.model.TestModels;
import io.sparkmp.schedule.ScheduleKind;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.dataset.DataSet;

/**
 * Every supported layer family ({@link LayerCases}) in a pipeline equals DL4J's {@code fit}: the layer under test
 * alone in its stage, so a cut sits on each side of it (where it has sides), DOUBLE, Adam with L2, 5 steps of 16
 * examples, each model three times: 1F1B with M = 4 micro-batches recomputing forwards, GPipe with M = 2 keeping
 * activations (stash; stages whose layers need it recompute anyway), and 1F1B with M = 1 (each layer updated right
 * after its backward). Sequence models train on masked sequences
 * of different lengths in every mini-batch, so the masks cross the cuts. BatchNormalization runs with M = 1
 * (per-micro-batch statistics differ by design: DropoutAndBatchNormTest bounds that).
 */
class LayerEquivalenceTest {

    private static final Map<String, Double> WORST = new ConcurrentHashMap<>();

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        String only = System.getProperty("layers.only", ""); // e.g. -Dlayers.only=Frozen for a quick local run
        for (LayerCases.Case c : LayerCases.all()) {
            if (!c.name().contains(only)) {
                continue;
            }
            boolean bn = c.name().startsWith("BatchNormalization");
            out.add(Arguments.of(c, ScheduleKind.ONE_F_ONE_B, bn ? 1 : 4, false));
            out.add(Arguments.of(c, ScheduleKind.GPIPE, bn ? 1 : 2, true));
            if (!bn) { // one micro-batch per step: each layer is updated right after its backward (fused update)
                out.add(Arguments.of(c, ScheduleKind.ONE_F_ONE_B, 1, false));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {1} M={2} stash={3}")
    @MethodSource("cases")
    void layerInAPipelineEqualsFit(LayerCases.Case c, ScheduleKind kind, int m, boolean stash) {
        MultiLayerConfiguration conf = c.build();
        int[] cuts = c.cutsAround();
        int stages = cuts.length - 1;
        List<DataSet> data = LayerCases.data(c.data(), 5, 16, 31);
        PipelineSpec spec = PipelineSpec.of(conf, cuts, kind, stages, 1, m, 16, TestModels.SEED);
        if (stash) {
            spec = spec.withRecompute(new boolean[stages]);
        }
        InProcessPipeline.Result result = new InProcessPipeline(spec).fit(data, 1);

        List<Double> scores = new ArrayList<>();
        MultiLayerNetwork ref = TestModels.referenceFit(conf, data, 1, scores);
        double err = TestModels.maxRelativeError(result.parameters(), ModelAssembler.split(ref));
        WORST.merge(c.name(), err, Math::max);
        String what = c + " " + kind.label() + " M=" + m + " cuts=" + java.util.Arrays.toString(cuts);
        assertTrue(err <= PipelineEquivalenceTest.DOUBLE_BOUND, what + ": max relative parameter error " + err);
        assertEquals(scores.size(), result.losses().size());
        for (int i = 0; i < scores.size(); i++) {
            assertEquals(scores.get(i), result.losses().get(i), 1e-8 * Math.abs(scores.get(i)), what + ": loss of step " + i);
        }
        double moved = TestModels.maxRelativeError(result.parameters(), LayerParameters.initial(conf, TestModels.SEED));
        assertTrue(moved > 1e-4, what + ": parameters barely moved (" + moved + ")");
    }

    /**
     * Frozen bottom layers at every cut: a stage may start with, end with or consist of frozen layers (where
     * DL4J's backward stops); the frozen parameters stay exactly as initialised and the rest equals fit.
     */
    @org.junit.jupiter.api.Test
    void frozenBottomLayersTrainAsFitAtEveryCut() {
        LayerCases.Case c = LayerCases.all().stream().filter(k -> k.name().startsWith("FrozenLayer (")).findFirst()
                .orElseThrow();
        MultiLayerConfiguration conf = c.build();
        List<DataSet> data = LayerCases.data(c.data(), 5, 16, 31);
        MultiLayerNetwork ref = TestModels.referenceFit(conf, data, 1, new ArrayList<>());
        java.util.Map<Integer, org.nd4j.linalg.api.ndarray.INDArray> initial = LayerParameters.initial(conf, TestModels.SEED);
        int[][] splits = {{0, 1, 4}, {0, 2, 4}, {0, 3, 4}, {0, 1, 3, 4}, {0, 2, 3, 4}};
        for (int[] cuts : splits) {
            for (int m : new int[] {1, 4}) {
                int stages = cuts.length - 1;
                PipelineSpec spec = PipelineSpec.of(conf, cuts, ScheduleKind.ONE_F_ONE_B, stages, 1, m, 16, TestModels.SEED)
                        .withRecompute(new boolean[stages]);
                InProcessPipeline.Result result = new InProcessPipeline(spec).fit(data, 1);
                String what = "cuts " + java.util.Arrays.toString(cuts) + " M=" + m;
                double err = TestModels.maxRelativeError(result.parameters(), ModelAssembler.split(ref));
                assertTrue(err <= PipelineEquivalenceTest.DOUBLE_BOUND, what + ": max relative parameter error " + err);
                for (int frozen = 0; frozen < 2; frozen++) {
                    assertEquals(initial.get(frozen), result.parameters().get(frozen), what + ": frozen layer " + frozen);
                }
                double moved = TestModels.maxRelativeError(java.util.Map.of(2, result.parameters().get(2)),
                        java.util.Map.of(2, initial.get(2)));
                assertTrue(moved > 1e-4, what + ": the trainable layer barely moved (" + moved + ")");
            }
        }
    }

    /**
     * The TimeDistributed case on masked sequences of different lengths: the pipeline stops at the first masked
     * micro-batch with the stage's error naming the layer and why (DL4J's own fit mixes the examples' masks there:
     * LayerSupportTest), instead of training something that matches nothing.
     */
    @org.junit.jupiter.api.Test
    void maskedStepsAtTimeDistributedStopThePipelineNamingTheLayer() {
        LayerCases.Case c = LayerCases.all().stream().filter(k -> k.name().startsWith("TimeDistributed")).findFirst()
                .orElseThrow();
        MultiLayerConfiguration conf = c.build();
        List<DataSet> masked = LayerCases.data("rnn", 2, 16, 31);
        PipelineSpec spec = PipelineSpec.of(conf, c.cutsAround(), ScheduleKind.ONE_F_ONE_B, c.cutsAround().length - 1, 1,
                4, 16, TestModels.SEED);
        RuntimeException e = org.junit.jupiter.api.Assertions.assertThrows(RuntimeException.class,
                () -> new InProcessPipeline(spec).fit(masked, 1));
        StringBuilder chain = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            chain.append(t.getMessage()).append(" / ");
        }
        assertTrue(chain.toString().contains("layer 1 (TimeDistributed) got a features mask with masked steps"),
                chain.toString());
    }

    @AfterAll
    static void report() {
        System.out.println("per-layer max relative parameter error vs DL4J fit: " + new TreeMap<>(WORST));
    }
}
