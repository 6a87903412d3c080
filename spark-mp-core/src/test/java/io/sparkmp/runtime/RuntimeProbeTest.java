package io.sparkmp.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparkmp.model.TestModels;
import io.sparkmp.transport.LinkProbe;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;

/** The probes the profiling job runs give plausible, positive figures on real sockets and the real feed. */
class RuntimeProbeTest {

    @Test
    void loadCostsGrowWithTheExamplesAndTheStepHasAnOverhead() {
        MultiLayerConfiguration conf = TestModels.mlp(DataType.FLOAT, TestModels.Opt.ADAM, 0);
        InputType in = InputType.feedForward(8);
        double[] load = RuntimeProbe.loadSeconds(conf, in, 64, 2, 5);
        assertEquals(2, load.length);
        assertTrue(load[0] >= 0 && load[1] >= 0 && load[0] + 64 * load[1] > 0, load[0] + " + " + load[1] + "/example");
        assertTrue(load[0] + 64 * load[1] < 1, "a LOAD of 64 small rows takes well under a second");
        double step = RuntimeProbe.stepOverheadSeconds(5, 11);
        assertTrue(step > 0 && step < 1, "step overhead " + step);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> RuntimeProbe.loadSeconds(conf, in, 12, 0, 1));
        assertEquals("examples must be a positive multiple of 8, found 12", e.getMessage());
    }

    @Test
    void linkProbeMeasuresALatencyOnLoopbackSockets() {
        LinkProbe.Result r = LinkProbe.measure(3, 7);
        assertTrue(r.latencySeconds() + 4e6 * r.latencySecondsPerByte() > 0, r.toString());
        assertTrue(r.sendSeconds() >= 0 && r.sendSecondsPerByte() >= 0, r.toString());
        assertTrue(r.latencySeconds() < 0.1, "a small message arrives within 100 ms on loopback: " + r);
    }
}
