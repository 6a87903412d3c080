package io.sparkmp.schedule;

import static io.sparkmp.schedule.ScheduleFixtures.schedule;
import static io.sparkmp.schedule.ScheduleValidatorTest.rejected;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** {@link DataParallel}: an ALLREDUCE right before every STEP, seen by the validator and charged by the simulator. */
class DataParallelTest {

    @Test
    void allReduceRightBeforeEachStep() {
        Schedule s = ControlTraffic.lowered(ScheduleKind.GPIPE, 2, 2, 1, 2);
        assertEquals(List.of("0LOAD0", "0SEND_L0", "0F0", "0SEND_F0", "0LOAD1", "0SEND_L1", "0F1", "0SEND_F1",
                "0RECV_B0", "0B0", "0RECV_B1", "0B1", "0ALLREDUCE", "0STEP"),
                s.actions(0).stream().map(Action::toString).toList());
        assertEquals(List.of("1LOSS", "1ALLREDUCE", "1STEP"), s.actions(1).subList(s.actions(1).size() - 3,
                s.actions(1).size()).stream().map(Action::toString).toList());
        ScheduleValidator.validate(s);
    }

    @ParameterizedTest(name = "{0} P={1} M={2} v={3}")
    @CsvSource({"GPIPE, 3, 4, 1", "ONE_F_ONE_B, 4, 8, 1", "INTERLEAVED_1F1B, 2, 4, 2"})
    void everyStageHasOneAllReduceAndTheScheduleStaysValid(ScheduleKind kind, int p, int m, int v) {
        Schedule one = ControlTraffic.lowered(kind, p, m, v, 1);
        Schedule two = ControlTraffic.lowered(kind, p, m, v, 2);
        ScheduleValidator.validate(two);
        for (int d = 0; d < p; d++) {
            assertEquals(one.actions(d).size() + v, two.actions(d).size(), "device " + d);
            assertEquals(0, one.actions(d).stream().filter(a -> a.type() == ActionType.ALLREDUCE).count());
        }
    }

    @Test
    void anAllReduceAfterTheStepIsRejected() {
        Schedule s = schedule(ScheduleKind.GPIPE, 1, 1, """
                0LOAD0 0F0 0B0 0LOSS 0STEP 0ALLREDUCE
                """);
        rejected(s, "0STEP (action 4) runs before 0ALLREDUCE (action 5) on device 0, but the step applies the "
                + "all-reduced gradient", "dev 0  0LOAD0   0F0   0B0   0LOSS  [0STEP]  0ALLREDUCE");
    }

    @Test
    void addingTwiceIsRejected() {
        Schedule twice = ControlTraffic.lowered(ScheduleKind.GPIPE, 2, 2, 1, 2);
        assertEquals("schedule already has all-reduce actions: found 0ALLREDUCE on device 0",
                assertThrows(IllegalArgumentException.class, () -> DataParallel.add(twice)).getMessage());
    }

    @Test
    void theSimulatorChargesTheAllReduce() {
        Schedule s = ControlTraffic.lowered(ScheduleKind.ONE_F_ONE_B, 2, 2, 1, 2);
        ActionCosts base = ActionCosts.uniform(1, 2, 0);
        double without = ScheduleSimulator.simulate(s, base).makespan();
        ActionCosts withAllReduce = new ActionCosts() {
            @Override
            public double duration(Action a) {
                return a.type() == ActionType.ALLREDUCE ? 5 : base.duration(a);
            }

            @Override
            public double latency(int from, int to) {
                return 0;
            }
        };
        // Stage 0's all-reduce is the last thing in the step: the step grows by exactly its time.
        assertEquals(without + 5, ScheduleSimulator.simulate(s, withAllReduce).makespan(), 1e-12);
    }

    /**
     * Per-layer sums beside the backward (one stage, R = 2, M = 2, F = 1, B = 2): the last B runs 4-6. Passes of 3
     * handed over at 4.5 and 5.5 end at 7.5 and 10.5 (the second waits for the first): the step is 10.5, of which
     * the device is busy 6. Passes of 0.1 handed over at 4.5 and 6.0 end at 4.6 and 6.1: only the bottom layer's
     * pass outlasts the backward.
     */
    @Test
    void layerSumsRunBesideTheBackwardOnOneThreadAndTheWaitIsIdle() {
        Schedule s = ControlTraffic.lowered(ScheduleKind.ONE_F_ONE_B, 1, 2, 1, 2);
        SimulationResult slow = ScheduleSimulator.simulate(s, sums(List.of(new LayerAllReduce(0.5, 3),
                new LayerAllReduce(1.5, 3))));
        assertEquals(10.5, slow.makespan(), 1e-12);
        assertEquals(6.0, slow.busyByDevice().get(0), 1e-12);
        assertEquals(1 - 6.0 / 10.5, slow.bubbleFraction(), 1e-12);
        SimulationResult fast = ScheduleSimulator.simulate(s, sums(List.of(new LayerAllReduce(0.5, 0.1),
                new LayerAllReduce(2.0, 0.1))));
        assertEquals(6.1, fast.makespan(), 1e-12);
        assertThrows(IllegalArgumentException.class, () -> new LayerAllReduce(-1, 1));
    }

    private static ActionCosts sums(List<LayerAllReduce> layers) {
        ActionCosts base = ActionCosts.uniform(1, 2, 0);
        return new ActionCosts() {
            @Override
            public double duration(Action a) {
                return base.duration(a);
            }

            @Override
            public double latency(int from, int to) {
                return 0;
            }

            @Override
            public List<LayerAllReduce> layerAllReduces(int stage) {
                return layers;
            }
        };
    }
}
