package io.sparkmp.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

/**
 * The planner's memory for the deferred weight gradients of dense layers: a stage holds each dense layer's input
 * and pre-activation gradient (its output's size) for every example of the step, from M = 2 on.
 */
class DeferredWeightGradientMemoryTest {

    /** Layers: dense (out 10), dense (out 20), output layer (out 5); model input 30 bytes per example; kept 7 each. */
    private static ModelProfile profile() {
        List<LayerProfile> l = new ArrayList<>();
        String[] types = {"DenseLayer", "DenseLayer", "OutputLayer"};
        long[] out = {10, 20, 5};
        for (int i = 0; i < types.length; i++) {
            l.add(new LayerProfile("l" + i, types[i], 0, 0, 0, 0, out[i], 7, 0, 0, 1e-3, 0, 2e-3, 0));
        }
        return ModelProfile.of(l, 30);
    }

    private static StageMemory stage(int stage, int microBatches) {
        return PipelinePlanner.builder().profile(profile()).executors(2).stages(2).microBatches(microBatches)
                .schedule(io.sparkmp.schedule.ScheduleKind.GPIPE).deviceMemoryBytes(1L << 40)
                .bandwidthBytesPerSecond(1e9).latencySeconds(0).batchSize(8).boundaries(0, 2, 3).build().plan()
                .stage(stage).memory();
    }

    @Test
    void aStageHoldsItsDenseLayersInputAndOutputForTheWholeStep() {
        // GPipe, M = 4 of 2 examples: all 4 in flight, 4 x 2 x kept (7 + 7) = 112; deferred: 8 examples x
        // (layer 0: input 30 + output 10, layer 1: input 10 + output 20) = 8 x 70 = 560.
        assertEquals(4 * 2 * 14 + 8 * 70, stage(0, 4).activationBytes());
        // The output layer does not defer: only its kept bytes, 4 x 2 x 7.
        assertEquals(4 * 2 * 7, stage(1, 4).activationBytes());
        // One micro-batch per step defers nothing.
        assertEquals(8 * 14, stage(0, 1).activationBytes());
        // M = 2 of 4 examples: the same 8 examples' copies.
        assertEquals(2 * 4 * 14 + 8 * 70, stage(0, 2).activationBytes());
    }
}
