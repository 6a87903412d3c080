package io.sparkmp.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import io.sparkmp.schedule.Action;
import io.sparkmp.schedule.ActionType;
import io.sparkmp.schedule.ScheduleKind;
import io.sparkmp.schedule.SimulationResult;
import org.junit.jupiter.api.Test;

/** Measured runtime costs: their text form, and that the planner's simulated step charges them action by action. */
class RuntimeCostsTest {

    private static final RuntimeCosts COSTS = new RuntimeCosts(2e-5, 1e-10, 5e-5, 4e-10, 3e-4, 2e-6, 1.5e-3);

    @Test
    void textFormReadsBackAndBadValuesAreNamed() {
        assertEquals(COSTS, RuntimeCosts.parse(COSTS.format()));
        assertTrue(COSTS.measured());
        assertFalse(RuntimeCosts.NONE.measured());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new RuntimeCosts(0, 0, -1, 0, 0, 0, 0));
        assertEquals("latencySeconds must be finite and >= 0, found -1.0", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> RuntimeCosts.parse("1 2 3"));
    }

    private static PipelinePlan plan(int p, int m, RuntimeCosts costs) {
        return PipelinePlanner.builder().profile(PlanFixtures.uniform(4, 1e-3)).executors(p).stages(p).microBatches(m)
                .schedule(ScheduleKind.ONE_F_ONE_B).deviceMemoryBytes(1L << 40).bandwidthBytesPerSecond(1e9)
                .batchSize(8 * m).runtimeCosts(costs).build().plan();
    }

    @Test
    void oneDevicePaysEveryLoadAndTheStepOverheadOnTopOfItsCompute() {
        PipelinePlan plain = plan(1, 4, RuntimeCosts.NONE);
        PipelinePlan measured = plan(1, 4, COSTS);
        // One device runs everything in turn: 4 LOADs of 8 examples and one step's overhead more.
        double extra = 4 * (3e-4 + 8 * 2e-6) + 1.5e-3;
        assertEquals(plain.predictedStepSeconds() + extra, measured.predictedStepSeconds(), 1e-12);
        assertEquals("simulated + measured runtime costs", measured.stepTimeMethod());
        assertEquals(COSTS, measured.runtimeCosts());
        assertTrue(measured.explain().contains("runtime costs (measured): message: send 20.0 us"), measured.explain());
    }

    @Test
    void twoDevicesChargeSendsLatencyLabelsAndLoadsAsThePredictedTimelineShows() {
        PipelinePlan measured = plan(2, 4, COSTS);
        assertTrue(measured.predictedStepSeconds() > plan(2, 4, RuntimeCosts.NONE).predictedStepSeconds());
        SimulationResult t = PredictedTimeline.of(measured);
        assertEquals(measured.pipelineSeconds(), t.makespan(), 1e-12);
        long bytes = measured.stage(0).bytesSentForward();
        SimulationResult.TimedAction send = t.timing(Action.of(0, ActionType.SEND_F, 0));
        assertEquals(2e-5 + bytes * 1e-10, send.end() - send.start(), 1e-15, "the sender's measured time");
        SimulationResult.TimedAction recv = t.timing(Action.of(1, ActionType.RECV_F, 0));
        assertEquals(send.end() + 5e-5 + bytes * 4e-10, recv.end(), 1e-12, "arrives after the measured latency");
        SimulationResult.TimedAction load = t.timing(Action.of(0, ActionType.LOAD, 1));
        assertEquals(3e-4 + 8 * 2e-6, load.end() - load.start(), 1e-15);
        SimulationResult.TimedAction labels = t.timing(Action.of(0, ActionType.SEND_L, 0));
        assertEquals(2e-5, labels.end() - labels.start(), 1e-15);
        List<SimulationResult.TimedAction> last = t.timeline().get(1);
        assertEquals(Action.of(1, ActionType.STEP), last.get(last.size() - 1).action());
        assertTrue(last.get(last.size() - 1).end() - last.get(last.size() - 1).start() >= 1.5e-3, "step overhead on STEP");
    }
}
