package io.sparkmp.schedule;

import static io.sparkmp.schedule.ScheduleFixtures.schedule;
import static io.sparkmp.schedule.ScheduleValidatorTest.rejected;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The control traffic pass: where LOAD, SEND_L, RECV_L and LOSS go, that every lowered schedule passes the
 * validator, that the validator rejects broken control traffic with its reason, and that the simulator charges
 * the control actions' time.
 */
class ControlTrafficTest {

    @ParameterizedTest(name = "{0} P={1} M={2} v={3}")
    @CsvSource({"GPIPE, 1, 1, 1", "GPIPE, 3, 4, 1", "ONE_F_ONE_B, 2, 8, 1", "ONE_F_ONE_B, 4, 8, 1",
        "ONE_F_ONE_B, 5, 3, 1", "INTERLEAVED_1F1B, 1, 4, 2", "INTERLEAVED_1F1B, 2, 4, 2", "INTERLEAVED_1F1B, 4, 8, 2",
        "INTERLEAVED_1F1B, 3, 6, 3"})
    void loweredScheduleCarriesEveryMicroBatchsRowsAlongThePipelineAndValidates(ScheduleKind kind, int p, int m, int v) {
        Schedule s = ControlTraffic.lowered(kind, p, m, v);
        ScheduleValidator.validate(s);
        int last = s.numStages() - 1;
        for (int d = 0; d < p; d++) {
            List<Action> l = s.actions(d);
            for (int mb = 0; mb < m; mb++) {
                int f = l.indexOf(Action.of(d, ActionType.FORWARD, mb));
                if (d == 0) {
                    // LOAD, then (with a next device) SEND_L, right before stage 0's forward.
                    int load = l.indexOf(Action.of(0, ActionType.LOAD, mb));
                    assertEquals(f - (p > 1 ? 2 : 1), load, "LOAD of " + mb + " on " + l);
                } else {
                    int recv = l.indexOf(Action.of(d, ActionType.RECV_L, mb));
                    assertEquals(f - (d < p - 1 ? 2 : 1), recv, "RECV_L of " + mb + " on device " + d + ": " + l);
                    assertEquals(Action.of(d, ActionType.RECV_F, mb), l.get(recv - 1), "right after its RECV_F");
                }
            }
            long sends = l.stream().filter(a -> a.type() == ActionType.SEND_L).count();
            long loads = l.stream().filter(a -> a.type() == ActionType.LOAD).count();
            long losses = l.stream().filter(a -> a.type() == ActionType.LOSS).count();
            assertEquals(d < p - 1 ? m : 0, sends, "SEND_L on device " + d);
            assertEquals(d == 0 ? m : 0, loads, "LOAD on device " + d);
            assertEquals(d == s.deviceOf(last) ? 1 : 0, losses, "LOSS on device " + d);
            // Labels only ever go to the next device: no link that activations do not use.
            for (Action a : l) {
                if (a.type() == ActionType.SEND_L || a.type() == ActionType.RECV_L) {
                    int peer = s.deviceOf(ControlTraffic.peerStage(a));
                    assertEquals(1, Math.abs(peer - d), a + " on device " + d);
                }
            }
        }
        List<Action> lastDevice = s.actions(s.deviceOf(last));
        assertEquals(Action.of(last, ActionType.LOSS), lastDevice.get(lastDevice.indexOf(Action.of(last, ActionType.STEP)) - 1));
    }

    @Test
    void addingTwiceIsRejected() {
        Schedule once = ControlTraffic.lowered(ScheduleKind.GPIPE, 2, 2, 1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ControlTraffic.add(once));
        assertEquals("schedule already has control actions: found 0LOAD0 on device 0", e.getMessage());
    }

    @Test
    void loadAfterTheForwardThatConsumesIt() {
        Schedule s = schedule(ScheduleKind.GPIPE, 1, 1, """
                0F0 0LOAD0 0B0 0LOSS 0STEP
                """);
        rejected(s, "0LOAD0 (action 1) runs after 0F0 (action 0) on device 0, but the forward consumes the rows it loads",
                "dev 0  0F0  [0LOAD0]  0B0   0LOSS   0STEP");
    }

    @Test
    void missingLoad() {
        Schedule s = schedule(ScheduleKind.GPIPE, 1, 2, """
                0LOAD0 0F0 0F1 0B0 0B1 0LOSS 0STEP
                """);
        rejected(s, "0F1 has no 0LOAD1 to load its rows", "dev 0  0LOAD0   0F0  [0F1]  0B0   0B1   0LOSS   0STEP");
    }

    @Test
    void labelsReceivedAfterTheLastStagesBackward() {
        Schedule s = schedule(ScheduleKind.GPIPE, 1, 1, """
                0LOAD0 0SEND_L0 0F0 0SEND_F0 0RECV_B0 0B0 0STEP
                1RECV_F0 1F0 1B0 1RECV_L0 1SEND_B0 1LOSS 1STEP
                """);
        rejected(s, "1B0 reads the labels of micro-batch 0 but no RECV_L of micro-batch 0 before it on device 1"
                        + " receives them",
                "dev 1  1RECV_F0   1F0       [1B0]  1RECV_L0   1SEND_B0   1LOSS   1STEP");
    }

    @Test
    void intermediateDeviceForwardsBeforeItsMasksArrive() {
        Schedule s = schedule(ScheduleKind.GPIPE, 1, 1, """
                0LOAD0 0SEND_L0 0F0 0SEND_F0 0RECV_B0 0B0 0STEP
                1RECV_F0 1F0 1RECV_L0 1SEND_L0 1SEND_F0 1RECV_B0 1B0 1SEND_B0 1STEP
                2RECV_L0 2RECV_F0 2F0 2B0 2SEND_B0 2LOSS 2STEP
                """);
        rejected(s, "1F0 is device 1's first forward of micro-batch 0, but no RECV_L of micro-batch 0 before it brings"
                        + " its masks and labels",
                "dev 1  1RECV_F0  [1F0]       1RECV_L0   1SEND_L0   1SEND_F0   1RECV_B0   1B0     1SEND_B0   1STEP");
    }

    @Test
    void sendingLabelsThisDeviceHasNotReceived() {
        Schedule s = schedule(ScheduleKind.GPIPE, 1, 1, """
                0LOAD0 0SEND_L0 0F0 0SEND_F0 0RECV_B0 0B0 0STEP
                1RECV_F0 1SEND_L0 1RECV_L0 1F0 1SEND_F0 1RECV_B0 1B0 1SEND_B0 1STEP
                2RECV_L0 2RECV_F0 2F0 2B0 2SEND_B0 2LOSS 2STEP
                """);
        rejected(s, "1SEND_L0 (action 1) runs before 1RECV_L0 (action 2) on device 1, but it sends labels this device"
                        + " must have",
                "dev 1  1RECV_F0  [1SEND_L0]  1RECV_L0   1F0        1SEND_F0   1RECV_B0   1B0     1SEND_B0   1STEP");
    }

    @Test
    void receiveWithoutItsSend() {
        Schedule s = schedule(ScheduleKind.GPIPE, 1, 1, """
                0LOAD0 0F0 0SEND_F0 0RECV_B0 0B0 0STEP
                1RECV_F0 1RECV_L0 1F0 1B0 1SEND_B0 1LOSS 1STEP
                """);
        rejected(s, "1RECV_L0 has no matching 0SEND_L0 on device 0",
                "dev 1  1RECV_F0  [1RECV_L0]  1F0        1B0        1SEND_B0   1LOSS   1STEP");
    }

    @Test
    void lossBeforeALastBackwardAndMissingLoss() {
        Schedule early = schedule(ScheduleKind.GPIPE, 1, 2, """
                0LOAD0 0F0 0LOAD1 0F1 0B0 0LOSS 0B1 0STEP
                """);
        rejected(early, "0LOSS (action 5) runs before 0B1 (action 6) on device 0, but the loss sums the scores of all"
                + " micro-batches", "dev 0  0LOAD0   0F0   0LOAD1   0F1   0B0  [0LOSS]  0B1   0STEP");
        Schedule none = schedule(ScheduleKind.GPIPE, 1, 1, """
                0LOAD0 0F0 0B0 0STEP
                """);
        rejected(none, "the last stage has no 0LOSS on device 0: the step's loss is never reduced",
                "dev 0  0LOAD0   0F0   0B0  [0STEP]");
    }

    @Test
    void loadOnlyOnStageZero() {
        Schedule s = schedule(ScheduleKind.GPIPE, 1, 1, """
                0LOAD0 0F0 0SEND_F0 0RECV_B0 0B0 0STEP
                1LOAD0 1RECV_F0 1F0 1B0 1SEND_B0 1LOSS 1STEP
                """);
        rejected(s, "1LOAD0: only stage 0 loads training rows",
                "dev 1 [1LOAD0]  1RECV_F0   1F0        1B0        1SEND_B0   1LOSS   1STEP");
    }

    @Test
    void simulatorChargesLoadsAndWaitsForTheLabels() {
        // One device: LOAD 0.5 before each F (1), then the Bs (2): 2 x 1.5 + 2 x 2, LOSS and STEP free.
        ActionCosts costs = new ActionCosts() {
            @Override
            public double duration(Action a) {
                return switch (a.type()) {
                    case LOAD -> 0.5;
                    case FORWARD -> 1;
                    case BACKWARD -> 2;
                    case SEND_L -> 0.25;
                    default -> 0;
                };
            }

            @Override
            public double latency(int fromStage, int toStage) {
                return 0.1;
            }
        };
        assertEquals(7.0, ScheduleSimulator.simulate(ControlTraffic.lowered(ScheduleKind.GPIPE, 1, 2, 1), costs)
                .makespan(), 1e-12);
        // Two devices, one micro-batch: LOAD 0.5, SEND_L 0.25, F 1, then on device 1 RECV_F waits until 1.75 + 0.1,
        // F 1, B 2, back to device 0 at 4.85 + 0.1, its B 2: 6.95.
        SimulationResult two = ScheduleSimulator.simulate(ControlTraffic.lowered(ScheduleKind.GPIPE, 2, 1, 1), costs);
        assertEquals(6.95, two.makespan(), 1e-12);
        assertEquals(1.85, two.timing(Action.of(1, ActionType.RECV_L, 0)).end(), 1e-12, "after its RECV_F; the labels were there");
    }
}
