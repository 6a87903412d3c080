package io.sparkmp.plan;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The two runtime costs the trainer tells the planner about: recomputed forwards on every stage but the last,
 * and the optimizer step per parameter. Layers take 1 ms forward and 2 ms backward per call; no sends.
 */
class RecomputeAndUpdateCostTest {

    private static ModelProfile layers(long... params) {
        List<LayerProfile> l = new ArrayList<>();
        for (int i = 0; i < params.length; i++) {
            l.add(new LayerProfile("l" + i, "Dense", params[i], 4 * params[i], 4 * params[i], 0, 0, 0, 0, 0,
                    1e-3, 0, 2e-3, 0));
        }
        return ModelProfile.of(l, 0);
    }

    private static PipelinePlanner.Builder planner(ModelProfile p) {
        return PipelinePlanner.builder().profile(p).executors(2).stages(2).microBatches(1).deviceMemoryBytes(1L << 40)
                .bandwidthBytesPerSecond(1e9).latencySeconds(0).batchSize(1);
    }

    @Test
    void recomputationChargesNonLastStagesTheirForwardAgainAndMovesTheCut() {
        ModelProfile nine = layers(0, 0, 0, 0, 0, 0, 0, 0, 0);
        // Stage [0, k) costs 4k ms with recomputation (1 + 2 + 1 per layer), the last stage 3 (9 - k):
        // k = 4 gives max(16, 15) = 16 ms, the best; k = 5 would give 20, k = 3 would give 18.
        PipelinePlan p = planner(nine).recomputeForward(true).build().plan();
        assertArrayEquals(new int[] {0, 4, 9}, p.boundaries());
        assertEquals(4e-3, p.stage(0).forwardSeconds(), 1e-12);
        assertEquals(12e-3, p.stage(0).backwardSeconds(), 1e-12, "backward 8 ms + recomputed forward 4 ms");
        assertEquals(16e-3, p.stage(0).timeSeconds(), 1e-12);
        assertEquals(10e-3, p.stage(1).backwardSeconds(), 1e-12, "the last stage does not recompute");
        // One micro-batch: F0 (4) then F1 (5) B1 (10) then B0 (12 incl. recompute) = 31 ms.
        assertEquals(31e-3, p.predictedStepSeconds(), 1e-9);

        PipelinePlan off = planner(nine).build().plan();
        assertEquals(2e-3 * off.stage(0).layerCount(), off.stage(0).backwardSeconds(), 1e-12,
                "without recomputation, only the backward");
    }

    @Test
    void theOptimizerStepOfAParameterHeavyLayerMovesTheCutAndAddsToTheStep() {
        ModelProfile p = layers(3000, 0, 0);
        // Without the update: [0,1) 3 ms vs [1,3) 6 ms, or [0,2) 6 vs [2,3) 3: a tie, which the planner breaks
        // towards [0, 2, 3].
        assertArrayEquals(new int[] {0, 2, 3}, planner(p).build().plan().boundaries());
        // 1 us per parameter: 3 ms of update on the stage holding l0, so [0,2,3) would take 9 ms, [0,1,3) 6.
        PipelinePlan withUpdate = planner(p).updateSecondsPerParameter(1e-6).build().plan();
        assertArrayEquals(new int[] {0, 1, 3}, withUpdate.boundaries());
        // F0 0-1, F1 1-3, B1 3-7, B0 7-9 ms; device 0 then updates 3 ms: 12 ms (device 1 is done at 7).
        assertEquals(12e-3, withUpdate.predictedStepSeconds(), 1e-9);
        assertEquals("simulated + optimizer step", withUpdate.stepTimeMethod());

        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
                () -> PipelinePlanner.builder().updateSecondsPerParameter(-1));
        assertEquals("updateSecondsPerParameter must be finite and >= 0, found -1.0", bad.getMessage());
    }

    @Test
    void withRecomputationAStageHoldsTheInputOfEachMicroBatchInFlightAndTheActivationsOfOne() {
        // Four layers; kept bytes per example (the layer input + cache) 100, 10, 10, 10; outputs 10 each;
        // model input 100 bytes per example. GPipe holds all M = 4 micro-batches of 2 examples on every stage.
        List<LayerProfile> l = new ArrayList<>();
        long[] kept = {100, 10, 10, 10};
        for (int i = 0; i < kept.length; i++) {
            l.add(new LayerProfile("l" + i, "Dense", 0, 0, 0, 0, 10, kept[i], 0, 0, 1e-3, 0, 2e-3, 0));
        }
        ModelProfile p = ModelProfile.of(l, 100);
        PipelinePlan stash = gpipeFourMicroBatches(p).build().plan();
        // Without recomputation every layer keeps its activations for all 4 micro-batches: 4 x 2 x (100 + 10).
        assertEquals(4, stash.stage(0).memory().inFlight());
        assertEquals(4 * 2 * 110, stash.stage(0).memory().activationBytes());
        assertEquals(4 * 2 * 20, stash.stage(1).memory().activationBytes());
        PipelinePlan recompute = gpipeFourMicroBatches(p).recomputeForward(true).build().plan();
        // Stage 0: the inputs of 3 more micro-batches (3 x 2 x 100) + one micro-batch's activations (2 x 110).
        assertEquals(3 * 2 * 100 + 2 * 110, recompute.stage(0).memory().activationBytes());
        // Stage 1: its input is layer 1's output, 10 bytes: 3 x 2 x 10 + 2 x 20.
        assertEquals(3 * 2 * 10 + 2 * 20, recompute.stage(1).memory().activationBytes());
        assertEquals(stash.stage(0).memory().totalBytes() - stash.stage(0).memory().activationBytes(),
                recompute.stage(0).memory().totalBytes() - recompute.stage(0).memory().activationBytes(),
                "only the activations change");
    }

    /** GPipe, P = 2 split [0, 2, 4], M = 4 micro-batches of 2 examples, unlimited memory, no sends. */
    private static PipelinePlanner.Builder gpipeFourMicroBatches(ModelProfile p) {
        return PipelinePlanner.builder().profile(p).executors(2).stages(2).microBatches(4)
                .schedule(io.sparkmp.schedule.ScheduleKind.GPIPE).deviceMemoryBytes(1L << 40)
                .bandwidthBytesPerSecond(1e9).latencySeconds(0).batchSize(8).boundaries(0, 2, 4);
    }
}
