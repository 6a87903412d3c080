package io.sparkmp.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import io.sparkmp.plan.ModelProfile;
import io.sparkmp.plan.PipelinePlan;
import io.sparkmp.plan.PipelinePlanner;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.junit.jupiter.api.Test;

/** A graph's profile has one entry per vertex and, per cut, every crossing tensor with its bytes. */
class GraphProfilerTest {

    @Test
    void residualCutsCountTheSkip() {
        ModelProfile p = GraphProfiler.analytic(GraphModels.residualCnn(), 1e9, InputType.convolutional(6, 6, 2));
        assertEquals(List.of("conv0", "conv1", "conv2", "add", "pool", "dense", "out"),
                p.layers().stream().map(l -> l.name()).toList());
        long conv = 3 * 6 * 6 * 8; // 3 channels of 6 x 6 doubles
        assertEquals(List.of("conv0", "conv1"), p.cutTensors(2));
        assertEquals(2 * conv, p.cutBytesPerExample(2));
        assertEquals(List.of("add"), p.cutTensors(4));
        assertEquals(conv, p.cutBytesPerExample(4));
        assertEquals((2 * 3 * 3 * 3 + 3) , p.layer(0).parameters()); // 3x3 kernels over 2 channels, 3 filters, biases
        assertEquals(0, p.layer(3).parameters());
        assertEquals("ElementWiseVertex", p.layer(3).type());
        assertTrue(p.isGraph());
    }

    @Test
    void plannerExplainsWhatCrossesEachCut() {
        ModelProfile p = GraphProfiler.analytic(GraphModels.twoInTwoOut(), 1e9, InputType.feedForward(6),
                InputType.feedForward(4));
        PipelinePlan plan = PipelinePlanner.builder().profile(p).executors(3).deviceMemoryBytes(1L << 30)
                .bandwidthBytesPerSecond(1e9).latencySeconds(0).batchSize(8).stages(3).microBatches(2).build().plan();
        String explain = plan.explain();
        for (int s = 0; s + 1 < plan.stages().size(); s++) {
            int k = plan.boundaries()[s + 1];
            String line = "cut " + s + "|" + (s + 1) + " (before layer " + k + ") carries " + p.cutTensors(k).size();
            assertTrue(explain.contains(line), line + " in\n" + explain);
            assertEquals(p.cutTensors(k), plan.stages().get(s).sentTensors());
        }
    }

    /**
     * Frozen vertices of a transfer-learned graph keep their parameters and forward but have no gradient or updater
     * memory and no backward time; the same vertices unfrozen (the base graph) have all three.
     */
    @Test
    void frozenVerticesHaveNoGradientUpdaterOrBackward() {
        ModelProfile frozen = GraphProfiler.analytic(GraphModels.transferLearned().getConfiguration(), 1e9,
                InputType.feedForward(5));
        ModelProfile base = GraphProfiler.analytic(GraphModels.transferBase(), 1e9, InputType.feedForward(5));
        assertEquals(base.layers().stream().map(l -> l.name()).toList(),
                frozen.layers().stream().map(l -> l.name()).toList());
        for (int i = 0; i < base.layers().size(); i++) {
            var f = frozen.layer(i);
            var b = base.layer(i);
            boolean isFrozen = List.of("d0", "d1", "add").contains(b.name());
            assertEquals(b.parameters(), f.parameters(), b.name());
            assertEquals(b.parameterBytes(), f.parameterBytes(), b.name());
            assertEquals(b.forwardSecondsPerExample(), f.forwardSecondsPerExample(), b.name());
            if (isFrozen) {
                assertTrue(f.type().startsWith("Frozen"), f.type());
                assertEquals(0, f.gradientBytes(), b.name());
                assertEquals(0, f.updaterBytes(), b.name());
                assertEquals(0.0, f.backwardSeconds(8), b.name());
                assertTrue(b.backwardSeconds(8) > 0, b.name());
            } else {
                assertEquals(b.gradientBytes(), f.gradientBytes(), b.name());
                assertEquals(b.backwardSeconds(8), f.backwardSeconds(8), b.name());
            }
        }
        assertEquals((5L * 6 + 6) * 8, frozen.layer(0).parameterBytes()); // d0: 5x6 weights + 6 biases, doubles
        assertTrue(base.layer(0).gradientBytes() > 0 && base.layer(0).updaterBytes() > 0);
        assertEquals("Adam", frozen.updater());
    }

    @Test
    void inputTypesMustMatchTheInputs() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> GraphProfiler.analytic(GraphModels.twoInTwoOut(), 1e9, InputType.feedForward(6)));
        assertEquals("the graph has 2 inputs [a, b], found 1 input types", e.getMessage());
    }
}
