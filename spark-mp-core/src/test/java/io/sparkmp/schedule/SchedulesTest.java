package io.sparkmp.schedule;

import static io.sparkmp.schedule.ScheduleFixtures.golden;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

class SchedulesTest {

    static final int[] DEVICES = {1, 2, 3, 4, 8};
    static final int[] MICRO_BATCHES = {1, 2, 4, 8, 16};

    /** Every (kind, P, M, v) of the test table that the generator accepts. */
    static Stream<Arguments> allShapes() {
        List<Arguments> out = new ArrayList<>();
        for (int p : DEVICES) {
            for (int m : MICRO_BATCHES) {
                out.add(Arguments.of(ScheduleKind.GPIPE, p, m, 1));
                out.add(Arguments.of(ScheduleKind.ONE_F_ONE_B, p, m, 1));
                for (int v : new int[] {1, 2, 4}) {
                    if (m % p == 0) {
                        out.add(Arguments.of(ScheduleKind.INTERLEAVED_1F1B, p, m, v));
                    }
                }
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} P={1} M={2} v={3}")
    @MethodSource("allShapes")
    void everyGeneratedScheduleIsValidWithAndWithoutCommunication(ScheduleKind kind, int p, int m, int v) {
        Schedule s = Schedules.generate(kind, p, m, v);
        assertEquals(p * v, s.numStages());
        for (int d = 0; d < p; d++) {
            List<Action> l = s.actions(d);
            // 2 compute actions per (stage, micro-batch), then one STEP per stage in stage order.
            assertEquals(2 * v * m + v, l.size());
            for (int c = 0; c < v; c++) {
                assertEquals(Action.of(c * p + d, ActionType.STEP), l.get(2 * v * m + c));
            }
        }
        ScheduleValidator.validate(s);
        Schedule withComm = Communication.add(s);
        ScheduleValidator.validate(withComm);
        long sends = withComm.actionsByDevice().stream().flatMap(List::stream)
                .filter(a -> a.type() == ActionType.SEND_F || a.type() == ActionType.SEND_B).count();
        // One activation and one gradient per micro-batch per stage boundary, except boundaries inside a device.
        int crossingBoundaries = p == 1 ? 0 : p * v - 1;
        assertEquals(2L * m * crossingBoundaries, sends);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "gpipe_p2_m4.txt,          GPIPE,            2, 4, 1, false",
        "1f1b_p4_m8.txt,           ONE_F_ONE_B,      4, 8, 1, false",
        "1f1b_p4_m2.txt,           ONE_F_ONE_B,      4, 2, 1, false",
        "interleaved_p2_m4_v2.txt, INTERLEAVED_1F1B, 2, 4, 2, false",
        "1f1b_p2_m3_comm.txt,      ONE_F_ONE_B,      2, 3, 1, true",
        "interleaved_p1_m2_v2_comm.txt, INTERLEAVED_1F1B, 1, 2, 2, true",
    })
    void generatorMatchesHandWrittenGoldenSchedule(String file, ScheduleKind kind, int p, int m, int v, boolean comm) {
        Schedule s = Schedules.generate(kind, p, m, v);
        if (comm) {
            s = Communication.add(s);
        }
        List<List<Action>> expected = golden(file);
        assertEquals(p, expected.size(), "devices in " + file);
        for (int d = 0; d < p; d++) {
            List<Action> want = expected.get(d);
            List<Action> got = s.actions(d);
            for (int i = 0; i < Math.min(want.size(), got.size()); i++) {
                String where = file + ": device " + d + " action " + i;
                Schedule shown = s;
                assertEquals(want.get(i), got.get(i), () -> where + "\n" + ScheduleGrid.render(shown, null));
            }
            assertEquals(want.size(), got.size(), file + ": number of actions on device " + d);
        }
        ScheduleValidator.validate(s);
    }

    @Test
    void argumentsAreCheckedWithTheirValues() {
        assertAll(
                () -> assertMessage("microBatches must be positive, found 0",
                        () -> Schedules.generate(ScheduleKind.GPIPE, 2, 0, 1)),
                () -> assertMessage("devices must be positive, found -1",
                        () -> Schedules.generate(ScheduleKind.ONE_F_ONE_B, -1, 4, 1)),
                () -> assertMessage("stagesPerDevice must be positive, found 0",
                        () -> Schedules.generate(ScheduleKind.INTERLEAVED_1F1B, 2, 4, 0)),
                () -> assertMessage("kind must not be null", () -> Schedules.generate(null, 2, 4, 1)),
                () -> assertMessage("stagesPerDevice (2) > 1 needs schedule interleaved, found gpipe", () -> Schedules.generate(ScheduleKind.GPIPE, 2, 4, 2)),
                () -> assertMessage("stagesPerDevice (3) > 1 needs schedule interleaved, found 1f1b",
                        () -> Schedules.generate(ScheduleKind.ONE_F_ONE_B, 2, 4, 3)),
                () -> assertMessage("interleaved needs microBatches (6) to be a multiple of stages (4)",
                        () -> Schedules.generate(ScheduleKind.INTERLEAVED_1F1B, 4, 6, 2)));
    }

    @Test
    void oneFOneBKeepsAtMostPMinusRankForwardsAhead() {
        // Walk each device's list: forwards started minus backwards done never exceeds min(P - d, M).
        int p = 4;
        int m = 8;
        Schedule s = Schedules.generate(ScheduleKind.ONE_F_ONE_B, p, m, 1);
        for (int d = 0; d < p; d++) {
            int open = 0;
            int peak = 0;
            for (Action a : s.actions(d)) {
                open += a.type() == ActionType.FORWARD ? 1 : a.type() == ActionType.BACKWARD ? -1 : 0;
                peak = Math.max(peak, open);
            }
            assertEquals(Math.min(p - d, m), peak, "device " + d);
        }
    }

    @Test
    void communicationIsLeftOutBetweenStagesOfOneDevice() {
        Schedule s = Communication.add(Schedules.generate(ScheduleKind.INTERLEAVED_1F1B, 1, 4, 4));
        assertFalse(s.actions(0).stream().anyMatch(a -> a.type().isCommunication()), s.actions(0).toString());
        ScheduleValidator.validate(s);
    }

    @Test
    void communicationRefusesASecondPass() {
        Schedule once = Communication.add(Schedules.generate(ScheduleKind.GPIPE, 2, 2, 1));
        assertMessage("schedule already has communication actions: found 0SEND_F0 on device 0",
                () -> Communication.add(once));
    }

    @Test
    void receivesSitRightBeforeAndSendsRightAfterTheirCompute() {
        Schedule s = Communication.add(Schedules.generate(ScheduleKind.INTERLEAVED_1F1B, 2, 4, 2));
        for (int d = 0; d < s.devices(); d++) {
            List<Action> l = s.actions(d);
            for (int i = 0; i < l.size(); i++) {
                Action a = l.get(i);
                switch (a.type()) {
                    case RECV_F -> assertEquals(Action.of(a.stage(), ActionType.FORWARD, a.microBatch()), l.get(i + 1));
                    case RECV_B -> assertEquals(Action.of(a.stage(), ActionType.BACKWARD, a.microBatch()), l.get(i + 1));
                    case SEND_F -> assertEquals(Action.of(a.stage(), ActionType.FORWARD, a.microBatch()), l.get(i - 1));
                    case SEND_B -> assertEquals(Action.of(a.stage(), ActionType.BACKWARD, a.microBatch()), l.get(i - 1));
                    default -> {
                    }
                }
            }
        }
    }

    static void assertMessage(String message, org.junit.jupiter.api.function.Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertEquals(message, e.getMessage());
    }
}
