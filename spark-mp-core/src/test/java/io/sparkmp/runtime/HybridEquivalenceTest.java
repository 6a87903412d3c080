package io.sparkmp.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import io.sparkmp.model.ModelAssembler;
import io.sparkmp.model.TestModels;
import io.sparkmp.model.TestModels.Opt;
import io.sparkmp.schedule.ScheduleKind;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;

/**
 * Hybrid data x pipeline parallelism in one JVM: R replicas of a P-device pipeline, each training its share of
 * every global mini-batch, gradients summed across the replicas before each step, equal DL4J's own {@code fit}
 * on the whole mini-batches (double, 1e-9 relative), for every schedule; with dropout every (P, R, M) trains
 * identically; BatchNormalization with R &gt; 1 is refused.
 */
class HybridEquivalenceTest {

    private static final int BATCH = 16;

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        int[][] pr = {{2, 2}, {1, 2}, {1, 4}, {4, 1}};
        int k = 0;
        for (int[] c : pr) {
            for (ScheduleKind kind : ScheduleKind.values()) {
                int p = c[0];
                int r = c[1];
                int v = kind == ScheduleKind.INTERLEAVED_1F1B ? 2 : 1;
                if (p * v > 4) {
                    continue; // the MLP has 4 layers
                }
                int m = kind == ScheduleKind.INTERLEAVED_1F1B ? 2 * p : (k % 2 == 0 ? 2 : 1);
                if (BATCH % (r * m) != 0) {
                    m = 1;
                }
                out.add(Arguments.of(kind, p, v, r, m, k++ % 2 == 0 ? Opt.ADAM : Opt.NESTEROVS));
            }
        }
        return out.stream();
    }

    private static int[] cuts(int stages) {
        return switch (stages) {
            case 1 -> new int[] {0, 4};
            case 2 -> new int[] {0, 2, 4};
            case 4 -> new int[] {0, 1, 2, 3, 4};
            default -> throw new IllegalArgumentException("stages " + stages);
        };
    }

    @ParameterizedTest(name = "{0} P={1} v={2} R={3} M={4} {5}")
    @MethodSource("cases")
    void replicasEqualDl4jFit(ScheduleKind kind, int p, int v, int r, int m, Opt opt) {
        MultiLayerConfiguration conf = TestModels.mlp(DataType.DOUBLE, opt, 0);
        List<DataSet> data = TestModels.data("mlp", DataType.DOUBLE, 5, BATCH, 99);
        PipelineSpec spec = PipelineSpec.of(conf, cuts(p * v), kind, p, v, m, BATCH, TestModels.SEED).withReplicas(r);

        InProcessPipeline.Result result = new InProcessPipeline(spec).fit(data, 1);

        List<Double> scores = new ArrayList<>();
        MultiLayerNetwork ref = TestModels.referenceFit(conf, data, 1, scores);
        double err = TestModels.maxRelativeError(result.parameters(), ModelAssembler.split(ref));
        System.out.println("hybrid " + kind.label() + " P=" + p + " v=" + v + " R=" + r + " M=" + m + " " + opt + ": " + err);
        assertTrue(err <= PipelineEquivalenceTest.DOUBLE_BOUND, "max relative parameter error " + err);
        List<Double> losses = result.losses();
        assertEquals(scores.size(), losses.size(), "one loss per step");
        for (int i = 0; i < scores.size(); i++) {
            assertEquals(scores.get(i), losses.get(i), 1e-8 * Math.abs(scores.get(i)), "loss of step " + i);
        }
        double moved = TestModels.maxRelativeError(result.parameters(),
                io.sparkmp.model.LayerParameters.initial(conf, TestModels.SEED));
        assertTrue(moved > 1e-4, "parameters barely moved (" + moved + ")");
    }

    @Test
    void replicasWithoutTheirSumDoNotEqualFit() {
        // The check above is not vacuous: one replica training only its half of each batch differs clearly.
        MultiLayerConfiguration conf = TestModels.mlp(DataType.DOUBLE, Opt.ADAM, 0);
        List<DataSet> data = TestModels.data("mlp", DataType.DOUBLE, 5, BATCH, 99);
        List<DataSet> halves = data.stream().map(d -> InProcessPipeline.share(d, 0, 2)).toList();
        InProcessPipeline.Result half = new InProcessPipeline(PipelineSpec.of(conf, cuts(1), ScheduleKind.GPIPE, 1, 1, 1,
                BATCH / 2, TestModels.SEED)).fit(halves, 1);
        MultiLayerNetwork ref = TestModels.referenceFit(conf, data, 1, null);
        assertTrue(TestModels.maxRelativeError(half.parameters(), ModelAssembler.split(ref)) > 1e-3);
    }

    static Stream<Arguments> dropoutShapes() {
        return Stream.of(
                Arguments.of(ScheduleKind.ONE_F_ONE_B, 2, 1, 2, 4, new int[] {0, 2, 5}),
                Arguments.of(ScheduleKind.GPIPE, 1, 1, 2, 1, new int[] {0, 5}),
                Arguments.of(ScheduleKind.GPIPE, 1, 1, 4, 2, new int[] {0, 5}),
                Arguments.of(ScheduleKind.ONE_F_ONE_B, 4, 1, 1, 4, new int[] {0, 1, 2, 3, 5}),
                Arguments.of(ScheduleKind.INTERLEAVED_1F1B, 2, 2, 2, 2, new int[] {0, 1, 2, 3, 5}));
    }

    @ParameterizedTest(name = "dropout {0} P={1} v={2} R={3} M={4}")
    @MethodSource("dropoutShapes")
    void dropoutTrainsIdenticallyForEveryShape(ScheduleKind kind, int p, int v, int r, int m, int[] cuts) {
        MultiLayerConfiguration conf = TestModels.mlpWithDropout(DataType.DOUBLE, Opt.ADAM);
        List<DataSet> data = TestModels.data("mlp", DataType.DOUBLE, 5, BATCH, 5);
        InProcessPipeline.Result single = new InProcessPipeline(PipelineSpec.of(conf, new int[] {0, 5}, ScheduleKind.GPIPE,
                1, 1, 1, BATCH, TestModels.SEED)).fit(data, 1);
        InProcessPipeline.Result hybrid = new InProcessPipeline(PipelineSpec.of(conf, cuts, kind, p, v, m, BATCH,
                TestModels.SEED).withReplicas(r)).fit(data, 1);
        double err = TestModels.maxRelativeError(hybrid.parameters(), single.parameters());
        System.out.println("dropout " + kind.label() + " P=" + p + " R=" + r + " M=" + m + " vs P=1 R=1 M=1: " + err);
        assertTrue(err <= 1e-12, "differs from the single run by " + err);
        for (int i = 0; i < single.losses().size(); i++) {
            assertEquals(single.losses().get(i), hybrid.losses().get(i), 1e-12 * Math.abs(single.losses().get(i)));
        }
    }

    @Test
    void batchNormalizationWithReplicasIsRefused() {
        MultiLayerConfiguration conf = TestModels.cnn(DataType.DOUBLE, Opt.ADAM, true);
        PipelineSpec one = PipelineSpec.of(conf, new int[] {0, conf.getConfs().size()}, ScheduleKind.GPIPE, 1, 1, 1, BATCH,
                TestModels.SEED);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> one.withReplicas(2));
        assertTrue(e.getMessage().startsWith("replicas (2) > 1 cannot train layer "), e.getMessage());
        assertTrue(e.getMessage().contains("(BatchNormalization)"), e.getMessage());
    }

    @Test
    void replicasMustDivideTheBatchWithTheMicroBatches() {
        MultiLayerConfiguration conf = TestModels.mlp(DataType.DOUBLE, Opt.ADAM, 0);
        PipelineSpec spec = PipelineSpec.of(conf, cuts(1), ScheduleKind.GPIPE, 1, 1, 4, BATCH, TestModels.SEED);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> spec.withReplicas(3));
        assertEquals("replicas x microBatches (3 x 4 = 12) must divide batchSize (16)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> spec.withReplicas(0));
        assertEquals("replicas must be positive, found 0", e.getMessage());
    }
}
