package io.sparkmp.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import io.sparkmp.schedule.ScheduleKind;
import org.junit.jupiter.api.Test;

/**
 * The simulator's place for the deferred weight gradients of dense layers: with M &gt; 1 the runtime forms dW = Xᵀ·δ
 * once per step, at the STEP, so the simulated B of a dense stage leaves it out and its STEP runs M micro-batches'
 * worth; timelines computed by hand.
 */
class DeferredWeightGradientTimeTest {

    /**
     * Stage 0: a dense layer, forward 1 s and backward 2 s per example (1 s of which is its dW: half the backward's
     * time per example, the input gradient being the other half); stage 1: the output layer, forward 1 s and backward 1 s per example, not deferred. Nothing crosses a
     * cut in time (no bytes), no optimizer step, no runtime costs.
     */
    private static PipelinePlan plan(int batch, int microBatches) {
        List<LayerProfile> l = List.of(
                new LayerProfile("dense", "DenseLayer", 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2),
                new LayerProfile("out", "OutputLayer", 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1));
        return PipelinePlanner.builder().profile(ModelProfile.of(l, 0)).executors(2).stages(2)
                .microBatches(microBatches).schedule(ScheduleKind.ONE_F_ONE_B).deviceMemoryBytes(1L << 40)
                .bandwidthBytesPerSecond(1e9).latencySeconds(0).batchSize(batch).boundaries(0, 1, 2).build().plan();
    }

    @Test
    void theDeferredProductsRunInTheStepNotInEachBackward() {
        // M = 2 of one example. Device 0: F0 [0,1], F1 [1,2]; device 1 (F with B, 2 s each): B0 [1,3], B1 [3,5];
        // device 0: B0 without its dW [3,4], B1 [5,6], STEP with both micro-batches' dW [6,8]. Charging dW in
        // each B instead would end at 7 (B0 [3,5], B1 [5,7]).
        PipelinePlan two = plan(2, 2);
        assertEquals(1.0, two.stage(0).deferredSeconds(), 1e-12, "the dense layer's dW per micro-batch");
        assertEquals(0.0, two.stage(1).deferredSeconds(), 1e-12, "the output layer does not defer");
        assertEquals(2.0, two.stage(0).backwardSeconds(), 1e-12, "the backward still counts its dW");
        assertEquals(8.0, two.predictedStepSeconds(), 1e-9, two.explain());
        assertTrue(two.stepTimeMethod().startsWith("simulated"), two.stepTimeMethod());
    }

    @Test
    void theDeferredPartIsHalfTheBackwardPerExampleNotTheForward() {
        // A tiny layer whose forward per example (3 s) exceeds its backward per example (2 s) with 1 s fixed: the
        // product takes half the per-example backward, 1 s of the B's 3 s, never the whole B.
        List<LayerProfile> l = List.of(
                new LayerProfile("dense", "DenseLayer", 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 1, 2),
                new LayerProfile("out", "OutputLayer", 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1));
        PipelinePlan p = PipelinePlanner.builder().profile(ModelProfile.of(l, 0)).executors(2).stages(2).microBatches(2)
                .schedule(ScheduleKind.ONE_F_ONE_B).deviceMemoryBytes(1L << 40).bandwidthBytesPerSecond(1e9)
                .latencySeconds(0).batchSize(2).boundaries(0, 1, 2).build().plan();
        assertEquals(3.0, p.stage(0).backwardSeconds(), 1e-12);
        assertEquals(1.0, p.stage(0).deferredSeconds(), 1e-12);
    }

    @Test
    void oneMicroBatchDefersNothing() {
        // M = 1: F [0,1], device 1 B [1,3], device 0 B with its dW [3,5]; the update is fused into the backward.
        PipelinePlan one = plan(1, 1);
        assertEquals(0.0, one.stage(0).deferredSeconds(), 1e-12);
        assertEquals(5.0, one.predictedStepSeconds(), 1e-9, one.explain());
    }
}
