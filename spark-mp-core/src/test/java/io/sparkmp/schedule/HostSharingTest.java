package io.sparkmp.schedule;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The simulator on devices that share a host: processor sharing by hand and against the plain replay. */
class HostSharingTest {

    private static final double EPS = 1e-9;

    /** Uniform costs on devices that share hosts as given. */
    private static ActionCosts shared(double f, double b, double comm, HostSharing sharing) {
        ActionCosts base = ActionCosts.uniform(f, b, comm);
        return new ActionCosts() {
            @Override
            public double duration(Action action) {
                return base.duration(action);
            }

            @Override
            public double latency(int fromStage, int toStage) {
                return base.latency(fromStage, toStage);
            }

            @Override
            public HostSharing hostSharing() {
                return sharing;
            }
        };
    }

    @Test
    void slowdownIsLinearFromOneTaskToAllTasksOfTheHost() {
        HostSharing h = new HostSharing(2, 2, 1.6);
        assertEquals(4, h.tasksPerHost());
        assertEquals(1.0, h.slowdown(1), EPS);
        assertEquals(1.2, h.slowdown(2), EPS);
        assertEquals(1.4, h.slowdown(3), EPS);
        assertEquals(1.6, h.slowdown(4), EPS);
        assertEquals(1.6, h.slowdown(9), EPS, "never more than all tasks of the host");
        assertFalse(new HostSharing(1, 1, 3).slows(), "one task per host slows nothing");
        assertFalse(new HostSharing(4, 1, 1).slows());
        assertTrue(new HostSharing(2, 1, 1.01).slows());
    }

    @Test
    void badSharingIsRefusedNamingTheValue() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new HostSharing(0, 1, 1.2)).getMessage()
                .contains("found 0"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new HostSharing(2, 1, 0.9)).getMessage()
                .contains("0.9"));
        assertThrows(IllegalArgumentException.class, () -> new HostSharing(2, 1, Double.NaN));
    }

    /**
     * GPipe, P = 2, M = 2, F = B = 1, no link time, both devices on one host at half speed while both compute. By
     * hand: F(0,0) alone [0, 1]; F(0,1) and F(1,0) together, each at half speed [1, 3]; F(1,1) alone [3, 4];
     * B(1,0) alone [4, 5]; B(1,1) and B(0,0) together [5, 7]; B(0,1) alone [7, 8]. Without sharing: 6.
     */
    @Test
    void overlappingActionsOfOneHostShareItsSpeed() {
        Schedule s = Schedules.generate(ScheduleKind.GPIPE, 2, 2, 1);
        assertEquals(6, ScheduleSimulator.simulate(s, ActionCosts.uniform(1, 1, 0)).makespan(), EPS);
        SimulationResult r = ScheduleSimulator.simulate(s, shared(1, 1, 0, new HostSharing(2, 1, 2)));
        assertEquals(8, r.makespan(), EPS);
        assertEquals(List.of(0.0, 1.0, 5.0, 7.0), times(r, 0, ActionType.FORWARD, ActionType.BACKWARD, true));
        assertEquals(List.of(1.0, 3.0, 7.0, 8.0), times(r, 0, ActionType.FORWARD, ActionType.BACKWARD, false));
        assertEquals(List.of(1.0, 3.0, 4.0, 5.0), times(r, 1, ActionType.FORWARD, ActionType.BACKWARD, true));
        // busy is the stretched length: device 0 computed 1 + 2 + 2 + 1 of the 8
        assertEquals(6, r.busyByDevice().get(0), EPS);
        assertEquals(2, r.idleByDevice().get(0), EPS);
    }

    /** The same two devices on separate hosts (one device per host): nothing is slowed. */
    @Test
    void devicesOnSeparateHostsAreNotSlowed() {
        Schedule s = Schedules.generate(ScheduleKind.GPIPE, 2, 2, 1);
        assertEquals(6, ScheduleSimulator.simulate(s, shared(1, 1, 0, new HostSharing(1, 1, 2))).makespan(), EPS);
    }

    /**
     * Two copies of every device on its own host (replicas in lock-step): every action always runs beside its
     * copy, so the whole timeline stretches by the slowdown, whatever the schedule; with link latency 0 the
     * time-ordered replay must give exactly the plain replay's times scaled, which checks it against the plain
     * one on every schedule of the grid.
     */
    @Test
    void copiesInLockStepStretchEveryScheduleByTheSlowdown() {
        for (ScheduleKind kind : ScheduleKind.values()) {
            for (int p : new int[] {1, 2, 3, 4}) {
                for (int m : new int[] {1, 2, 4, 8}) {
                    int v = kind == ScheduleKind.INTERLEAVED_1F1B ? 2 : 1;
                    if (kind == ScheduleKind.INTERLEAVED_1F1B && m % p != 0) {
                        continue;
                    }
                    Schedule s = ControlTraffic.lowered(kind, p, m, v);
                    SimulationResult plain = ScheduleSimulator.simulate(s, ActionCosts.uniform(1, 2, 0));
                    SimulationResult slow = ScheduleSimulator.simulate(s, shared(1, 2, 0, new HostSharing(1, 2, 1.5)));
                    String what = kind + " P=" + p + " M=" + m;
                    assertEquals(1.5 * plain.makespan(), slow.makespan(), EPS, what);
                    assertEquals(plain.bubbleFraction(), slow.bubbleFraction(), EPS, what);
                    for (int d = 0; d < p; d++) {
                        List<SimulationResult.TimedAction> a = plain.timeline().get(d);
                        List<SimulationResult.TimedAction> b = slow.timeline().get(d);
                        for (int i = 0; i < a.size(); i++) {
                            assertEquals(1.5 * a.get(i).start(), b.get(i).start(), EPS, what + " " + a.get(i));
                            assertEquals(1.5 * a.get(i).end(), b.get(i).end(), EPS, what + " " + a.get(i));
                        }
                    }
                }
            }
        }
    }

    /**
     * 1F1B keeps both devices of one host computing at once for most of the step, GPipe's forward phase less:
     * with sharing the predicted step grows, never by more than the slowdown, and at least by the share of time the
     * plain replay had both devices busy.
     */
    @Test
    void sharingLengthensTheStepBetweenNothingAndTheSlowdown() {
        for (ScheduleKind kind : new ScheduleKind[] {ScheduleKind.GPIPE, ScheduleKind.ONE_F_ONE_B}) {
            Schedule s = ControlTraffic.lowered(kind, 2, 8, 1);
            double plain = ScheduleSimulator.simulate(s, ActionCosts.uniform(1, 2, 0.1)).makespan();
            double slow = ScheduleSimulator.simulate(s, shared(1, 2, 0.1, new HostSharing(2, 1, 1.4))).makespan();
            assertTrue(slow > plain * 1.05 && slow < plain * 1.4, kind + ": " + plain + " -> " + slow);
        }
    }

    private static List<Double> times(SimulationResult r, int stage, ActionType f, ActionType b, boolean starts) {
        List<Double> out = new java.util.ArrayList<>();
        for (List<SimulationResult.TimedAction> row : r.timeline()) {
            for (SimulationResult.TimedAction a : row) {
                if (a.action().stage() == stage && (a.action().type() == f || a.action().type() == b)) {
                    out.add(starts ? a.start() : a.end());
                }
            }
        }
        return out;
    }
}
