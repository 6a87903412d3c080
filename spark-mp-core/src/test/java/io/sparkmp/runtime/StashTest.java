package io.sparkmp.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;

import io.sparkmp.model.ModelSlicer;
import io.sparkmp.model.StageSlice;
import io.sparkmp.model.TestModels;
import io.sparkmp.model.TestModels.Opt;
import io.sparkmp.schedule.ScheduleKind;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.junit.jupiter.api.Test;

/**
 * Keeping the layer inputs of micro-batches in flight (the activation stash) trains exactly as recomputing the
 * forwards does: the backward starts from the same inputs and draws the same example-keyed dropout masks, so the
 * arithmetic is the same, bit for bit.
 */
class StashTest {

    private static Map<Integer, INDArray> train(MultiLayerConfiguration conf, String data, ScheduleKind kind, int[] cuts,
                                                int m, boolean stash) {
        List<DataSet> ds = TestModels.data(data, conf.getDataType(), 4, 16, 7);
        PipelineSpec spec = PipelineSpec.of(conf, cuts, kind, cuts.length - 1, 1, m, 16, TestModels.SEED);
        if (stash) {
            spec = spec.withRecompute(new boolean[spec.numStages()]);
        }
        return new InProcessPipeline(spec).fit(ds, 1).parameters();
    }

    @ParameterizedTest(name = "{0} {1} M={3}")
    @CsvSource({"mlp-dropout, 1f1b, 0 2 5, 4", "mlp-dropout, gpipe, 0 1 3 5, 8", "lstm-dropout, 1f1b, 0 1 3, 4",
            "cnn, gpipe, 0 2 4, 4"})
    void stashEqualsRecomputeBitForBit(String model, String schedule, String cuts, int m) {
        MultiLayerConfiguration conf = switch (model) {
            case "mlp-dropout" -> TestModels.mlpWithDropout(DataType.DOUBLE, Opt.ADAM);
            case "lstm-dropout" -> TestModels.lstmWithDropout(DataType.DOUBLE, Opt.ADAM);
            default -> TestModels.cnn(DataType.DOUBLE, Opt.NESTEROVS, false);
        };
        String data = model.replace("-dropout", "");
        int[] b = java.util.Arrays.stream(cuts.trim().split(" ")).mapToInt(Integer::parseInt).toArray();
        ScheduleKind kind = ScheduleKind.parse(schedule);
        Map<Integer, INDArray> recomputed = train(conf, data, kind, b, m, false);
        Map<Integer, INDArray> stashed = train(conf, data, kind, b, m, true);
        assertEquals(recomputed.keySet(), stashed.keySet());
        assertEquals(0.0, TestModels.maxRelativeError(stashed, recomputed), model + ": stash differs from recompute");
    }

    @Test
    void batchNormalizationStagesAlwaysRecompute() {
        MultiLayerConfiguration conf = TestModels.cnn(DataType.DOUBLE, Opt.ADAM, true);
        int layers = conf.getConfs().size();
        boolean anyBn = false;
        for (int s = 0; s < 2; s++) {
            int[] cuts = {0, 2, layers};
            StageSlice slice = ModelSlicer.slice(conf, cuts, s, TestModels.SEED, null, false);
            boolean hasBn = false;
            for (int i = cuts[s]; i < cuts[s + 1]; i++) {
                hasBn |= conf.getConf(i).getLayer() instanceof org.deeplearning4j.nn.conf.layers.BatchNormalization;
            }
            anyBn |= hasBn;
            assertEquals(hasBn, slice.recomputes(), "stage " + s);
        }
        assertTrue(anyBn, "the test model has a BatchNormalization layer");
        assertFalse(ModelSlicer.slice(TestModels.mlp(DataType.DOUBLE, Opt.ADAM, 0), new int[] {0, 2, 4}, 0, 1, null, false)
                .recomputes());
    }
}
