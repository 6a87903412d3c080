package io.sparkmp.plan;

import static io.sparkmp.plan.PlanFixtures.layer;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparkmp.schedule.ScheduleKind;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The planner sizes M from the batch and the budget. Two layers on one stage (P = 1), batch 16, stash: fixed
 * 2 x 12 000 B of parameters and Adam state plus gradients (M = 1: one layer's 4 000 B; M &gt; 1: both layers'
 * 8 000 B plus one layer's 4 000 B scratch); each example of a micro-batch keeps 2 x 10 000 B and needs 128 B in
 * + 256 B out of receive buffers: 20 384 B per example of a micro-batch.
 */
class MicroBatchSizingTest {

    private static PipelinePlanner.Builder planner(long budget) {
        List<LayerProfile> l = List.of(layer("a", 1e-3, 2e-3, 4000, 256, 10_000, 0),
                layer("b", 1e-3, 2e-3, 4000, 256, 10_000, 0));
        return PipelinePlanner.builder().profile(ModelProfile.of(l, 128)).executors(1).deviceMemoryBytes(budget)
                .bandwidthBytesPerSecond(1e12).batchSize(16).latencySeconds(0).stages(1)
                .schedule(ScheduleKind.ONE_F_ONE_B).recompute(RecomputeMode.NEVER);
    }

    @Test
    void choosesTheFewestMicroBatchesThatFit() {
        // 300 000 B: M = 1 needs 28 000 + 16 x 20 384 = 354 144 B; M = 2 needs 36 000 + 8 x 20 384 = 199 072 B.
        PipelinePlan roomy = planner(300_000).build().plan();
        assertEquals(2, roomy.microBatches(), roomy.explain());
        assertEquals(199_072, roomy.stages().get(0).memory().totalBytes());
        // 110 000 B: micro-batches of 4 need 117 536 B, of 2 need 76 768 B -> M = 8.
        PipelinePlan tight = planner(110_000).build().plan();
        assertEquals(8, tight.microBatches(), tight.explain());
        assertEquals(2, tight.microBatchSize());
        assertEquals(76_768, tight.stages().get(0).memory().totalBytes());
    }

    @Test
    void aFixedMThatDoesNotFitNamesTheMThatWould() {
        InfeasiblePlanException e = assertThrows(InfeasiblePlanException.class,
                () -> planner(110_000).microBatches(2).build().plan());
        assertTrue(e.getMessage().contains("batch 16 fits with 8 micro-batches of 2 (the planner's choice when "
                + "microBatches is not set) but not with microBatches = 2"), e.getMessage());
    }

    @Test
    void aBatchThatFitsAtNoMNamesTheBytesPerExampleAndTheBudget() {
        // Micro-batches of 1 (M = 16) need 36 000 + 20 384 = 56 384 B > 50 000 B.
        InfeasiblePlanException e = assertThrows(InfeasiblePlanException.class, () -> planner(50_000).build().plan());
        assertTrue(e.getMessage().contains("batch 16 fits at no number of micro-batches (every M dividing it tried, "
                + "down to micro-batches of 1)"), e.getMessage());
        // Layer b alone: 10 000 kept + 256 in + 256 out per example.
        assertTrue(e.getMessage().contains("at least 10.3 KiB (10512 bytes) on the stage that holds layer 1 'b'"),
                e.getMessage());
        assertTrue(e.getMessage().contains("budget of 48.8 KiB (50000 bytes) per device"), e.getMessage());
    }
}
