package io.sparkmp.plan;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparkmp.schedule.Action;
import io.sparkmp.schedule.Schedule;
import io.sparkmp.schedule.ScheduleKind;
import io.sparkmp.schedule.Schedules;

import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.Test;

class InFlightTest {

    @Test
    void closedForms() {
        assertArrayEquals(new int[] {6, 6, 6, 6}, InFlight.closedForm(ScheduleKind.GPIPE, 4, 1, 6));
        assertArrayEquals(new int[] {4, 3, 2, 1}, InFlight.closedForm(ScheduleKind.ONE_F_ONE_B, 4, 1, 6));
        assertArrayEquals(new int[] {2, 2, 2, 1}, InFlight.closedForm(ScheduleKind.ONE_F_ONE_B, 4, 1, 2));
        // Interleaved P=2, v=2, M=4: device 0 runs 2*(2-0-1) + (2-1)*2 + 1 = 5 forwards before its first
        // backward, device 1 runs 3; a virtual stage is charged min(M, that).
        assertArrayEquals(new int[] {4, 3, 4, 3}, InFlight.closedForm(ScheduleKind.INTERLEAVED_1F1B, 2, 2, 4));
    }

    @Test
    void countedFromAHandWritten1F1BSchedule() {
        // P = 2, M = 3, 1F1B: stage 0: F0 F1 B0 F2 B1 B2; stage 1: F0 B0 F1 B1 F2 B2.
        Schedule s = new Schedule(ScheduleKind.ONE_F_ONE_B, 2, 1, 3, List.of(
                parse("0F0 0F1 0B0 0F2 0B1 0B2"), parse("1F0 1B0 1F1 1B1 1F2 1B2")));
        assertArrayEquals(new int[] {2, 1}, InFlight.fromSchedule(s));
        assertArrayEquals(InFlight.closedForm(ScheduleKind.ONE_F_ONE_B, 2, 1, 3), InFlight.fromSchedule(s));
        Schedule g = new Schedule(ScheduleKind.GPIPE, 2, 1, 3, List.of(
                parse("0F0 0F1 0F2 0B2 0B1 0B0"), parse("1F0 1F1 1F2 1B2 1B1 1B0")));
        assertArrayEquals(new int[] {3, 3}, InFlight.fromSchedule(g));
    }

    @Test
    void closedFormsMatchTheGeneratedSchedules() {
        for (int p = 1; p <= 5; p++) {
            for (int m = 1; m <= 9; m++) {
                assertArrayEquals(InFlight.closedForm(ScheduleKind.GPIPE, p, 1, m),
                        InFlight.fromSchedule(Schedules.generate(ScheduleKind.GPIPE, p, m, 1)), "gpipe P=" + p + " M=" + m);
                assertArrayEquals(InFlight.closedForm(ScheduleKind.ONE_F_ONE_B, p, 1, m),
                        InFlight.fromSchedule(Schedules.generate(ScheduleKind.ONE_F_ONE_B, p, m, 1)), "1f1b P=" + p + " M=" + m);
            }
        }
        // Interleaved: the closed form is an upper bound of the generated schedule's counts.
        for (int p = 1; p <= 4; p++) {
            for (int v = 2; v <= 3; v++) {
                for (int m = p; m <= 3 * p; m += p) {
                    int[] bound = InFlight.closedForm(ScheduleKind.INTERLEAVED_1F1B, p, v, m);
                    int[] counted = InFlight.fromSchedule(Schedules.generate(ScheduleKind.INTERLEAVED_1F1B, p, m, v));
                    for (int s = 0; s < bound.length; s++) {
                        assertTrue(counted[s] >= 1 && counted[s] <= bound[s], "P=" + p + " v=" + v + " M=" + m
                                + " stage " + s + ": counted " + counted[s] + " > bound " + bound[s]);
                    }
                }
            }
        }
    }

    private static List<Action> parse(String text) {
        return Arrays.stream(text.split(" ")).map(Action::parse).toList();
    }
}
