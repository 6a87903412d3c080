package io.sparkmp.plan;

import static io.sparkmp.plan.PlanFixtures.layer;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import io.sparkmp.schedule.ScheduleKind;
import org.junit.jupiter.api.Test;

/**
 * The planner's activation recomputation choice on a fixed split of 6 equal layers into 3 stages, 1F1B, M = 4
 * (micro-batches of 2; in flight 3, 2, 1). Per stage with the stash: 36 000 B of parameter state (32 000 B of
 * parameters, gradients and updater state, and with M &gt; 1 the 4 000 B gradient scratch of one layer) +
 * in-flight x 2 x 20 000 B kept; with recomputation 36 000 + (in-flight - 1) x 2 x 128 B of inputs + 2 x 20 000 B.
 * A budget of 128 000 B holds stage 0 only with recomputation (stash 156 768 B), stage 1 also with its stash
 * (117 024 B).
 */
class RecomputeModeTest {

    private static PipelinePlanner.Builder planner(RecomputeMode mode) {
        List<LayerProfile> l = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            l.add(layer("dense" + i, 1e-3, 2e-3, 4000, 256, 10_000, 0));
        }
        return PipelinePlanner.builder().profile(ModelProfile.of(l, 128)).executors(3).deviceMemoryBytes(128_000)
                .bandwidthBytesPerSecond(1e12).batchSize(8).latencySeconds(0).stages(3).microBatches(4)
                .schedule(ScheduleKind.ONE_F_ONE_B).boundaries(0, 2, 4, 6).recompute(mode);
    }

    @Test
    void autoRecomputesOnlyWhereTheStashDoesNotFit() {
        PipelinePlan plan = planner(RecomputeMode.AUTO).build().plan();
        assertArrayEquals(new boolean[] {true, false, false}, plan.recomputePerStage(), plan.explain());
        assertEquals(36_000 + 2 * 2 * 128 + 2 * 20_000 + 2 * (128 + 256), plan.stages().get(0).memory().totalBytes(), plan.explain());
        assertEquals(117_024, plan.stages().get(1).memory().totalBytes(), plan.explain());
        // Stage 0 pays its forward twice (2 layers x 2 examples x 1 ms), stage 1 does not.
        assertEquals(8e-3 + 4e-3, plan.stages().get(0).backwardSeconds(), 1e-12);
        assertEquals(8e-3, plan.stages().get(1).backwardSeconds(), 1e-12);
        assertTrue(plan.explain().contains("recomp") && plan.explain().contains("stash"), plan.explain());
    }

    @Test
    void alwaysRecomputesEveryStageButTheLast() {
        PipelinePlan plan = planner(RecomputeMode.ALWAYS).build().plan();
        assertArrayEquals(new boolean[] {true, true, false}, plan.recomputePerStage(), plan.explain());
    }

    @Test
    void autoIsTheStashWhenEverythingFits() {
        List<LayerProfile> l = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            l.add(layer("dense" + i, 1e-3, 2e-3, 4000, 256, 100, 0));
        }
        PipelinePlan plan = PipelinePlanner.builder().profile(ModelProfile.of(l, 128)).executors(3)
                .deviceMemoryBytes(120_000).bandwidthBytesPerSecond(1e12).batchSize(8).latencySeconds(0).stages(3)
                .microBatches(4).schedule(ScheduleKind.ONE_F_ONE_B).recompute(RecomputeMode.AUTO).build().plan();
        assertArrayEquals(new boolean[] {false, false, false}, plan.recomputePerStage(), plan.explain());
    }

    @Test
    void neverNamesTheStageItsBytesWithTheStashAndTheBudget() {
        InfeasiblePlanException e = assertThrows(InfeasiblePlanException.class,
                () -> planner(RecomputeMode.NEVER).build().plan());
        assertTrue(e.getMessage().contains("stage 0"), e.getMessage());
        assertTrue(e.getMessage().contains("156768") || e.getMessage().contains("153.1 KiB"), e.getMessage());
        assertTrue(e.getMessage().contains("128000") || e.getMessage().contains("125.0 KiB"), e.getMessage());
    }

    @Test
    void parsesTheThreeModesAndNamesABadOne() {
        assertEquals(RecomputeMode.AUTO, RecomputeMode.parse("Auto"));
        assertEquals(RecomputeMode.NEVER, RecomputeMode.parse("never"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> RecomputeMode.parse("sometimes"));
        assertEquals("recompute must be one of auto, always, never, found `sometimes`", e.getMessage());
    }
}
