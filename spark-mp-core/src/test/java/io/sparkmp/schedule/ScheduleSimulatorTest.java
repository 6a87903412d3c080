package io.sparkmp.schedule;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class ScheduleSimulatorTest {

    private static final double EPS = 1e-12;

    /** (P, M, forward, backward) over the table, with F = B and B = 2F. */
    static Stream<Arguments> pipelineShapes() {
        List<Arguments> out = new ArrayList<>();
        for (int p : SchedulesTest.DEVICES) {
            for (int m : SchedulesTest.MICRO_BATCHES) {
                out.add(Arguments.of(p, m, 1.0, 1.0));
                out.add(Arguments.of(p, m, 1.0, 2.0));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "P={0} M={1} F={2} B={3}")
    @MethodSource("pipelineShapes")
    void gpipeAndOneFOneBHaveTheTextbookBubble(int p, int m, double f, double b) {
        double bubble = (p - 1.0) / (m + p - 1.0);
        ActionCosts costs = ActionCosts.uniform(f, b, 0);
        for (ScheduleKind kind : new ScheduleKind[] {ScheduleKind.GPIPE, ScheduleKind.ONE_F_ONE_B}) {
            Schedule s = Schedules.generate(kind, p, m, 1);
            for (Schedule variant : List.of(s, Communication.add(s))) {
                SimulationResult r = ScheduleSimulator.simulate(variant, costs);
                String what = kind + " P=" + p + " M=" + m + (variant == s ? "" : " with comm");
                assertEquals(bubble, r.bubbleFraction(), EPS, what);
                assertEquals((m + p - 1) * (f + b), r.makespan(), EPS, what);
                for (int d = 0; d < p; d++) {
                    assertEquals(m * (f + b), r.busyByDevice().get(d), EPS, what);
                    assertEquals((p - 1) * (f + b), r.idleByDevice().get(d), EPS, what);
                }
            }
        }
    }

    @ParameterizedTest(name = "P={0} M={1} F={2} B={3}")
    @MethodSource("pipelineShapes")
    void oneFOneBHoldsAtMostPMinusStageMicroBatchesWhileGpipeHoldsAll(int p, int m, double f, double b) {
        ActionCosts costs = ActionCosts.uniform(f, b, 0);
        SimulationResult oneFOneB = ScheduleSimulator.simulate(Schedules.generate(ScheduleKind.ONE_F_ONE_B, p, m, 1), costs);
        SimulationResult gpipe = ScheduleSimulator.simulate(Schedules.generate(ScheduleKind.GPIPE, p, m, 1), costs);
        assertEquals(Math.min(p, m), oneFOneB.peakInFlightByStage().get(0));
        assertEquals(m, gpipe.peakInFlightByStage().get(0));
        for (int s = 0; s < p; s++) {
            assertEquals(Math.min(p - s, m), oneFOneB.peakInFlightByStage().get(s), "1F1B stage " + s);
            assertEquals(m, gpipe.peakInFlightByStage().get(s), "GPipe stage " + s);
            // One stage per device: the device peak is the stage peak.
            assertEquals(oneFOneB.peakInFlightByStage().get(s), oneFOneB.peakInFlightByDevice().get(s));
        }
    }

    static Stream<Arguments> interleavedShapes() {
        List<Arguments> out = new ArrayList<>();
        for (int p : new int[] {2, 3, 4, 8}) {
            for (int m : SchedulesTest.MICRO_BATCHES) {
                if (m % p == 0) {
                    out.add(Arguments.of(p, m, 1.0, 1.0));
                    out.add(Arguments.of(p, m, 1.0, 2.0));
                }
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "P={0} M={1} F={2} B={3}")
    @MethodSource("interleavedShapes")
    void interleavingShrinksTheBubbleAsMegatronPredicts(int p, int m, double f, double b) {
        double oneFOneB = ScheduleSimulator.simulate(Schedules.generate(ScheduleKind.ONE_F_ONE_B, p, m, 1),
                ActionCosts.uniform(f, b, 0)).bubbleFraction();
        double previous = oneFOneB;
        for (int v : new int[] {2, 4}) {
            // Same work per device: each of the v virtual stages does 1/v of the device's layers.
            SimulationResult r = ScheduleSimulator.simulate(Schedules.generate(ScheduleKind.INTERLEAVED_1F1B, p, m, v),
                    ActionCosts.uniform(f / v, b / v, 0));
            assertTrue(r.bubbleFraction() < previous, "v=" + v + ": " + r.bubbleFraction() + " vs " + previous);
            previous = r.bubbleFraction();
            double ideal = m * (f + b);
            assertEquals((p - 1.0) / (v * m), (r.makespan() - ideal) / ideal, EPS, "bubble time / ideal time, v=" + v);
        }
    }

    @Test
    void latencyDelaysTheConsumerWithOrWithoutCommunicationActions() {
        // GPipe P=2 M=1, F=1 B=2 link 0.5: 0F0 [0,1], 1F0 [1.5,2.5], 1B0 [2.5,4.5], 0B0 [5,7].
        Schedule s = Schedules.generate(ScheduleKind.GPIPE, 2, 1, 1);
        ActionCosts costs = ActionCosts.uniform(1, 2, 0.5);
        for (Schedule variant : List.of(s, Communication.add(s))) {
            SimulationResult r = ScheduleSimulator.simulate(variant, costs);
            assertEquals(7.0, r.makespan(), EPS);
            assertEquals(1.5, r.timing(Action.parse("1F0")).start(), EPS);
            assertEquals(4.5, r.timing(Action.parse("1B0")).end(), EPS);
            assertEquals(5.0, r.timing(Action.parse("0B0")).start(), EPS);
            assertEquals(List.of(3.0, 3.0), r.busyByDevice());
            assertEquals(List.of(4.0, 4.0), r.idleByDevice());
            assertEquals(1 - 6.0 / 14.0, r.bubbleFraction(), EPS);
        }
        SimulationResult withComm = ScheduleSimulator.simulate(Communication.add(s), costs);
        SimulationResult.TimedAction recv = withComm.timing(Action.parse("1RECV_F0"));
        assertEquals(1.5, recv.start(), EPS);
        assertEquals(1.5, recv.end(), EPS);
        assertEquals(1, recv.device());
    }

    @Test
    void perStageCostsFollowTheSlowStage() {
        // GPipe P=2 M=2, stage 0 F=B=1, stage 1 F=B=3, link 1. Worked by hand:
        // dev0: 0F0 [0,1] 0F1 [1,2] 0B0 [12,13] 0B1 [15,16]; dev1: 1F0 [2,5] 1F1 [5,8] 1B0 [8,11] 1B1 [11,14].
        Schedule s = Schedules.generate(ScheduleKind.GPIPE, 2, 2, 1);
        SimulationResult r = ScheduleSimulator.simulate(s,
                ActionCosts.perStage(new double[] {1, 3}, new double[] {1, 3}, new double[] {1}));
        double[][] expected = {
            {0, 1, 1, 2, 12, 13, 15, 16, 16, 16},
            {2, 5, 5, 8, 8, 11, 11, 14, 14, 14},
        };
        for (int d = 0; d < 2; d++) {
            List<SimulationResult.TimedAction> row = r.timeline().get(d);
            assertEquals(5, row.size());
            for (int i = 0; i < row.size(); i++) {
                assertEquals(s.actions(d).get(i), row.get(i).action());
                assertEquals(expected[d][2 * i], row.get(i).start(), EPS, row.get(i).toString());
                assertEquals(expected[d][2 * i + 1], row.get(i).end(), EPS, row.get(i).toString());
            }
        }
        assertEquals(16.0, r.makespan(), EPS);
        assertEquals(List.of(4.0, 12.0), r.busyByDevice());
        assertEquals(List.of(12.0, 4.0), r.idleByDevice());
        assertEquals(0.5, r.bubbleFraction(), EPS);
        assertEquals(List.of(2, 2), r.peakInFlightByStage());
    }

    @Test
    void interleavedPeakCountsEveryStageOfTheDevice() {
        // P=1 M=2 v=2 runs 0F0 1F0 1B0 0F1 0B0 1F1 1B1 0B1, one time unit each. In flight: stage 0 mb 0
        // [0,5), mb 1 [3,8); stage 1 mb 0 [1,3), mb 1 [5,7). Stage 0 peaks at 2, stage 1 at 1, and the
        // device at 2, not 2 + 1: stage 1's micro-batch is done before stage 0's second one starts.
        SimulationResult r = ScheduleSimulator.simulate(Schedules.generate(ScheduleKind.INTERLEAVED_1F1B, 1, 2, 2),
                ActionCosts.uniform(1, 1, 0));
        assertEquals(List.of(2, 1), r.peakInFlightByStage());
        assertEquals(List.of(2), r.peakInFlightByDevice());
        assertEquals(0.0, r.bubbleFraction(), EPS);
    }

    @Test
    void badCostsAreRejectedWithTheirValues() {
        SchedulesTest.assertMessage("backward must be finite and >= 0, found -1.0", () -> ActionCosts.uniform(1, -1, 0));
        SchedulesTest.assertMessage("comm must be finite and >= 0, found NaN", () -> ActionCosts.uniform(1, 1, Double.NaN));
        SchedulesTest.assertMessage("sendTime must have one entry per link between neighbouring stages (1 for 2 stages),"
                + " found 2", () -> ActionCosts.perStage(new double[] {1, 1}, new double[] {1, 1}, new double[] {0, 0}));
        SchedulesTest.assertMessage("backward must have one entry per stage (2), found 1",
                () -> ActionCosts.perStage(new double[] {1, 1}, new double[] {1}, new double[] {0}));
        SchedulesTest.assertMessage("forward[1] must be finite and >= 0, found Infinity",
                () -> ActionCosts.perStage(new double[] {1, Double.POSITIVE_INFINITY}, new double[] {1, 1}, new double[] {0}));
        ActionCosts twoStages = ActionCosts.perStage(new double[] {1, 1}, new double[] {1, 1}, new double[] {0});
        SchedulesTest.assertMessage("no cost for 2F0: costs cover stages 0..1", () -> ScheduleSimulator.simulate(
                Schedules.generate(ScheduleKind.ONE_F_ONE_B, 4, 2, 1), twoStages));
    }

    @Test
    void anInvalidScheduleIsNotSimulated() {
        Schedule broken = ScheduleFixtures.schedule(ScheduleKind.GPIPE, 1, 1, "0B0 0F0 0STEP");
        assertThrows(ScheduleException.class, () -> ScheduleSimulator.simulate(broken, ActionCosts.uniform(1, 1, 0)));
    }
}
