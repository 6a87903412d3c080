package io.sparkmp.schedule;

import static io.sparkmp.schedule.ScheduleFixtures.schedule;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Hand-made broken schedules: each must be rejected with its reason and the grid with the spot marked. */
class ScheduleValidatorTest {

    /** {@code s} is rejected with {@code problem} first and the grid row {@code markedRow} (shared with other tests). */
    static ScheduleException rejected(Schedule s, String problem, String markedRow) {
        ScheduleException e = assertThrows(ScheduleException.class, () -> ScheduleValidator.validate(s));
        String msg = e.getMessage();
        assertTrue(msg.startsWith(problem + "\n"), msg);
        // The grid: one row per device, with the offending action in brackets on its row.
        assertTrue(msg.contains("\n" + markedRow + "\n"), msg);
        return e;
    }

    @Test
    void backwardBeforeItsForward() {
        Schedule s = schedule(ScheduleKind.ONE_F_ONE_B, 1, 2, """
                0F0 0B1 0F1 0B0 0STEP
                1F0 1B0 1F1 1B1 1STEP
                """);
        ScheduleException e = rejected(s, "0B1 (action 1) runs before 0F1 (action 2) on device 0,"
                + " but backward needs the forward's activations",
                "dev 0  0F0  [0B1]  0F1   0B0   0STEP");
        assertEquals(Action.parse("0B1"), e.action());
    }

    @Test
    void missingMicroBatchMarksTheStepThatWouldUseAnIncompleteGradient() {
        Schedule s = schedule(ScheduleKind.GPIPE, 1, 3, """
                0F0 0F1 0F2 0B0 0B1 0B2 0STEP
                1F0 1F1 1B0 1B1 1STEP
                """);
        rejected(s, "stage 1 never runs micro-batch 2 (no 1F2, no 1B2) on device 1",
                "dev 1  1F0   1F1   1B0   1B1  [1STEP]");
    }

    @Test
    void forwardWithoutBackward() {
        Schedule s = schedule(ScheduleKind.GPIPE, 1, 2, """
                0F0 0F1 0B0 0STEP
                """);
        rejected(s, "stage 0 has 0F1 but no 0B1 on device 0: its gradient is never computed",
                "dev 0  0F0   0F1   0B0  [0STEP]");
    }

    @Test
    void duplicatedAction() {
        Schedule s = schedule(ScheduleKind.GPIPE, 1, 1, """
                0F0 0F0 0B0 0STEP
                """);
        rejected(s, "0F0 occurs twice on device 0: at action 0 and 1", "dev 0  0F0  [0F0]  0B0   0STEP");
    }

    @Test
    void stepBeforeTheLastBackward() {
        Schedule s = schedule(ScheduleKind.GPIPE, 1, 2, """
                0F0 0F1 0B0 0STEP 0B1
                """);
        rejected(s, "0STEP (action 3) runs before 0B1 (action 4) on device 0,"
                + " but the step applies the gradient of all micro-batches", "dev 0  0F0   0F1   0B0  [0STEP]  0B1");
    }

    @Test
    void missingStep() {
        Schedule s = schedule(ScheduleKind.GPIPE, 1, 1, """
                0F0 0B0
                """);
        rejected(s, "stage 0 has no 0STEP on device 0", "dev 0  0F0  [0B0]");
    }

    @Test
    void actionOnTheWrongDevice() {
        Schedule s = schedule(ScheduleKind.GPIPE, 1, 1, """
                0F0 0B0 0STEP
                0F0 1B0 1STEP
                """);
        rejected(s, "0F0 is on device 1 but stage 0 belongs to device 0", "dev 1 [0F0]  1B0   1STEP");
    }

    @Test
    void microBatchOutOfRange() {
        Schedule s = schedule(ScheduleKind.GPIPE, 1, 1, """
                0F0 0F1 0B0 0STEP
                """);
        rejected(s, "0F1: micro-batch 1 out of range [0, 1)", "dev 0  0F0  [0F1]  0B0   0STEP");
    }

    @Test
    void splitBackwardIsNotSupportedYet() {
        Schedule s = schedule(ScheduleKind.GPIPE, 1, 1, """
                0F0 0I0 0W0 0STEP
                """);
        rejected(s, "0I0: split backward (I/W) is not supported by this validator", "dev 0  0F0  [0I0]  0W0   0STEP");
    }

    @Test
    void receiveWithNoSend() {
        Schedule s = schedule(ScheduleKind.GPIPE, 1, 1, """
                0F0 0RECV_B0 0B0 0STEP
                1RECV_F0 1F0 1B0 1SEND_B0 1STEP
                """);
        rejected(s, "1RECV_F0 has no matching 0SEND_F0 on device 0",
                "dev 1 [1RECV_F0]  1F0        1B0   1SEND_B0   1STEP");
    }

    @Test
    void sendWithNoReceive() {
        Schedule s = schedule(ScheduleKind.GPIPE, 1, 1, """
                0F0 0SEND_F0 0RECV_B0 0B0 0STEP
                1RECV_F0 1F0 1B0 1SEND_B0 1SEND_F0 1STEP
                """);
        // Stage 1 is the last stage: it has nobody to send an activation to.
        rejected(s, "1SEND_F0: the last stage (1) has no next stage to send its output to",
                "dev 1  1RECV_F0   1F0        1B0        1SEND_B0  [1SEND_F0]  1STEP");
        Schedule unmatched = schedule(ScheduleKind.GPIPE, 1, 1, """
                0F0 0SEND_F0 0B0 0STEP
                1RECV_F0 1F0 1B0 1SEND_B0 1STEP
                """);
        rejected(unmatched, "1SEND_B0 has no matching 0RECV_B0 on device 0",
                "dev 1  1RECV_F0   1F0        1B0  [1SEND_B0]  1STEP");
    }

    @Test
    void crossDeviceInputWithoutReceive() {
        Schedule s = schedule(ScheduleKind.GPIPE, 1, 1, """
                0F0 0SEND_F0 0B0 0STEP
                1RECV_F0 1F0 1B0 1STEP
                """);
        rejected(s, "0B0 takes its output gradient from stage 1 on device 1 but no 0RECV_B0 receives it",
                "dev 0  0F0        0SEND_F0  [0B0]  0STEP");
    }

    @Test
    void receiveAfterItsConsumer() {
        Schedule s = schedule(ScheduleKind.GPIPE, 1, 1, """
                0F0 0SEND_F0 0RECV_B0 0B0 0STEP
                1F0 1RECV_F0 1B0 1SEND_B0 1STEP
                """);
        rejected(s, "1RECV_F0 (action 1) runs after 1F0 (action 0) on device 1, but the forward consumes what it receives",
                "dev 1  1F0  [1RECV_F0]  1B0        1SEND_B0   1STEP");
    }

    @Test
    void deadlockWhenBothDevicesReceiveBeforeSending() {
        // Device 0 waits for the gradient before it sends the activation that device 1 waits for.
        Schedule s = schedule(ScheduleKind.GPIPE, 1, 1, """
                0F0 0RECV_B0 0SEND_F0 0B0 0STEP
                1RECV_F0 1F0 1B0 1SEND_B0 1STEP
                """);
        ScheduleException e = rejected(s, """
                deadlock: no device can go on
                  device 0 waits at 0RECV_B0 (action 1) for 1SEND_B0 on device 1, which has not run
                  device 1 waits at 1RECV_F0 (action 0) for 0SEND_F0 on device 0, which has not run""",
                "dev 0  0F0       [0RECV_B0]  0SEND_F0   0B0        0STEP");
        assertEquals(Action.parse("0RECV_B0"), e.action());
    }

    @Test
    void deadlockFromDataDependenciesWithoutCommunication() {
        // Device 1 wants micro-batch 1 first; device 0 only forwards it after the backward of micro-batch 0.
        Schedule s = schedule(ScheduleKind.ONE_F_ONE_B, 1, 2, """
                0F0 0B0 0F1 0B1 0STEP
                1F1 1F0 1B0 1B1 1STEP
                """);
        rejected(s, """
                deadlock: no device can go on
                  device 0 waits at 0B0 (action 1) for 1B0 on device 1, which has not run
                  device 1 waits at 1F1 (action 0) for 0F1 on device 0, which has not run""",
                "dev 0  0F0  [0B0]  0F1   0B1   0STEP");
    }

    @Test
    void sameDeviceStagesNeedNoCommunicationButStillTheirOrder() {
        // P=1, v=2: stage 1 runs on device 0 too; its forward must follow stage 0's.
        Schedule s = schedule(ScheduleKind.INTERLEAVED_1F1B, 2, 1, """
                1F0 0F0 1B0 0B0 0STEP 1STEP
                """);
        rejected(s, """
                deadlock: no device can go on
                  device 0 waits at 1F0 (action 0) for 0F0 on device 0, which has not run""",
                "dev 0 [1F0]  0F0   1B0   0B0   0STEP   1STEP");
        ScheduleValidator.validate(schedule(ScheduleKind.INTERLEAVED_1F1B, 2, 1, "0F0 1F0 1B0 0B0 0STEP 1STEP"));
    }

    @Test
    void allReduceGoesAfterEveryBackwardAndBeforeTheStep() {
        ScheduleValidator.validate(schedule(ScheduleKind.GPIPE, 1, 2, "0F0 0F1 0B0 0B1 0ALLREDUCE 0STEP"));
        rejected(schedule(ScheduleKind.GPIPE, 1, 2, "0F0 0F1 0B0 0ALLREDUCE 0B1 0STEP"),
                "0ALLREDUCE (action 3) runs before 0B1 (action 4) on device 0, but it sums the gradients of all"
                        + " micro-batches", "dev 0  0F0   0F1   0B0  [0ALLREDUCE]  0B1   0STEP");
        rejected(schedule(ScheduleKind.GPIPE, 1, 1, "0F0 0B0 0STEP 0ALLREDUCE"),
                "0STEP (action 2) runs before 0ALLREDUCE (action 3) on device 0, but the step applies the"
                        + " all-reduced gradient", "dev 0  0F0   0B0  [0STEP]  0ALLREDUCE");
    }
}
