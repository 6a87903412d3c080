package io.sparkmp.schedule;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class ScheduleGridTest {

    @Test
    void rendersOneRowPerDeviceWithTheMarkedAction() {
        Schedule s = Schedules.generate(ScheduleKind.ONE_F_ONE_B, 2, 2, 1);
        assertEquals("""
                1f1b: 2 devices x 1 stage(s) per device, 2 micro-batches
                       0     1     2     3     4
                dev 0  0F0   0F1   0B0  [0B1]  0STEP
                dev 1  1F0   1B0   1F1   1B1   1STEP
                """, ScheduleGrid.render(s, Action.parse("0B1")));
    }

    @Test
    void columnsWidenForCommunicationAndShortRowsStayBlank() {
        Schedule s = ScheduleFixtures.schedule(ScheduleKind.GPIPE, 1, 1, """
                0F0 0SEND_F0 0RECV_B0 0B0 0STEP
                1RECV_F0 1F0 1B0 1SEND_B0 1STEP
                """);
        assertEquals("""
                gpipe: 2 devices x 1 stage(s) per device, 1 micro-batches
                       0          1          2          3          4
                dev 0  0F0        0SEND_F0   0RECV_B0   0B0        0STEP
                dev 1 [1RECV_F0]  1F0        1B0        1SEND_B0   1STEP
                """, ScheduleGrid.render(s, Action.parse("1RECV_F0")));
        Schedule ragged = ScheduleFixtures.schedule(ScheduleKind.GPIPE, 1, 1, "0F0 0B0 0STEP\n1F0");
        assertEquals("""
                gpipe: 2 devices x 1 stage(s) per device, 1 micro-batches
                       0     1     2
                dev 0  0F0   0B0   0STEP
                dev 1  1F0
                """, ScheduleGrid.render(ragged, null));
    }

    @Test
    void wideGridsShowAWindowAroundTheMark() {
        Schedule s = Schedules.generate(ScheduleKind.GPIPE, 2, 64, 1);
        String grid = ScheduleGrid.render(s, Action.parse("1B40"));
        // 129 actions per device; the mark is action 64 + 40 = 104, so columns 84..123 are shown.
        assertTrue(grid.startsWith("gpipe: 2 devices x 1 stage(s) per device, 64 micro-batches,"
                + " showing actions 84..123 of 129\n"), grid);
        assertTrue(grid.contains("[1B40]"), grid);
        assertTrue(grid.contains(" 0B20 ") && grid.contains(" 0B59"), grid);
        assertTrue(!grid.contains(" 0B19 ") && !grid.contains(" 0B60 "), grid);
    }

    @Test
    void anActionThatIsNotThereIsReportedUnderTheGrid() {
        Schedule s = Schedules.generate(ScheduleKind.GPIPE, 1, 1, 1);
        assertEquals("""
                gpipe: 1 devices x 1 stage(s) per device, 1 micro-batches
                       0     1     2
                dev 0  0F0   0B0   0STEP
                (action 0F7 is not in the schedule)
                """, ScheduleGrid.render(s, Action.parse("0F7")));
    }
}
