package io.sparkmp.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;

import io.sparkmp.model.GraphModels;
import io.sparkmp.schedule.ScheduleKind;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;

/** Data that does not fit the graph is rejected before any stage runs, naming the array and the graph's names. */
class GraphBadInputTest {

    private static GraphPipeline pipeline(String model, int microBatches) {
        return new GraphPipeline(new GraphPipeline.Spec(GraphModels.of(model), new int[] {0, 3, 7}, ScheduleKind.GPIPE,
                2, microBatches, 1, GraphModels.SEED), null);
    }

    private static String rejected(GraphPipeline p, MultiDataSet ds) {
        return assertThrows(IllegalArgumentException.class, () -> p.fit(List.of(ds), 1)).getMessage();
    }

    @Test
    void labelsForAMissingOutput() {
        MultiDataSet good = GraphModels.data("residual", 1, 4, 1).get(0);
        MultiDataSet extra = new org.nd4j.linalg.dataset.MultiDataSet(good.getFeatures(),
                new INDArray[] {good.getLabels(0), good.getLabels(0)});
        assertEquals("mini-batch 0 has 2 labels arrays, the graph has 1 outputs [out]: labels 1 would be for an output "
                + "that does not exist", rejected(pipeline("residual", 1), extra));
    }

    @Test
    void missingLabelsNameTheOutput() {
        MultiDataSet two = GraphModels.data("twoInTwoOut", 1, 4, 1).get(0);
        MultiDataSet one = new org.nd4j.linalg.dataset.MultiDataSet(two.getFeatures(), new INDArray[] {two.getLabels(0)});
        GraphPipeline p = new GraphPipeline(new GraphPipeline.Spec(GraphModels.twoInTwoOut(), new int[] {0, 5, 11},
                ScheduleKind.GPIPE, 2, 1, 1, GraphModels.SEED), null);
        assertEquals("mini-batch 0 has 1 labels arrays, the graph has 2 outputs [outA, outB]: output 'outB' has no labels",
                rejected(p, one));
    }

    @Test
    void wrongFeatureCountAndMicroBatches() {
        MultiDataSet two = GraphModels.data("twoInTwoOut", 1, 4, 1).get(0);
        assertEquals("mini-batch 0 has 2 features arrays, the graph has 1 inputs [in]",
                rejected(pipeline("residual", 1), two));
        MultiDataSet six = GraphModels.data("residual", 1, 6, 1).get(0);
        assertEquals("microBatches (4) must divide the size (6) of mini-batch 0", rejected(pipeline("residual", 4), six));
    }

    @Test
    void specRejectsAStageCountThatIsNotDevicesTimesChunks() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new GraphPipeline.Spec(
                GraphModels.residualCnn(), new int[] {0, 3, 7}, ScheduleKind.GPIPE, 3, 1, 1, 1L));
        assertEquals("boundaries give 2 stages, but devices (3) x stagesPerDevice (1) = 3", e.getMessage());
    }

    @Test
    void aFailingDeviceStopsTheOthersAndItsErrorIsThrown() {
        MultiDataSet good = GraphModels.data("residual", 1, 4, 1).get(0);
        // four classes for a three-class output: only the last stage's loss can find out
        MultiDataSet bad = new org.nd4j.linalg.dataset.MultiDataSet(good.getFeatures(),
                new INDArray[] {org.nd4j.linalg.factory.Nd4j.zeros(org.nd4j.linalg.api.buffer.DataType.DOUBLE, 4, 4)});
        GraphPipeline p = new GraphPipeline(new GraphPipeline.Spec(GraphModels.of("residual"), new int[] {0, 2, 4, 7},
                ScheduleKind.ONE_F_ONE_B, 3, 2, 1, GraphModels.SEED), null);
        RuntimeException e = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(60),
                () -> assertThrows(RuntimeException.class, () -> p.fitOnThreads(List.of(bad), 1,
                        java.time.Duration.ofSeconds(30))));
        org.junit.jupiter.api.Assertions.assertFalse(e instanceof io.sparkmp.transport.TransportException,
                "the first failure is the last device's, not a closed channel: " + e);
        org.junit.jupiter.api.Assertions.assertTrue(e.getSuppressed().length >= 1,
                "the devices waiting on it stopped too: " + e);
    }
}
