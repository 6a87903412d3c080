package io.sparkmp.schedule;

import java.util.List;

/**
 * Renders a schedule as a device x step grid for error messages: one row per device, one column per
 * action index, with one action marked as {@code [1F3]}. The runtime shows the same grid when an action
 * fails, so a failure reads the same as a validation error.
 *
 * <pre>
 * 1f1b: 2 devices x 1 stage(s) per device, 2 micro-batches
 *        0     1     2     3     4
 * dev 0  0F0   0F1   0B0  [0B1]  0STEP
 * dev 1  1F0   1B0   1F1   1B1   1STEP
 * </pre>
 */
@io.sparkmp.Internal
public final class ScheduleGrid {

    /** Widest grid printed in full; wider ones show a window of this many columns around the mark. */
    static final int MAX_COLUMNS = 40;

    private ScheduleGrid() {
    }

    /**
     * Renders {@code schedule}, marking {@code marked} (by value: its first occurrence on the device of its
     * stage). Grids wider than 40 columns are cut to a window of 40 columns around the mark; the header
     * keeps the real action indices and says which columns are shown.
     *
     * @param marked the action to mark, or {@code null} for none; an action that is not in the schedule
     *     is reported under the grid instead of marked
     */
    public static String render(Schedule schedule, Action marked) {
        if (schedule == null) {
            throw new IllegalArgumentException("schedule must not be null");
        }
        int markedDevice = -1;
        int markedIndex = -1;
        if (marked != null && marked.stage() < schedule.numStages()) {
            int d = schedule.deviceOf(marked.stage());
            int i = schedule.actions(d).indexOf(marked);
            if (i >= 0) {
                markedDevice = d;
                markedIndex = i;
            }
        }
        String grid = render(schedule, markedDevice, markedIndex);
        if (marked != null && markedIndex < 0) {
            grid += "(action " + marked + " is not in the schedule)\n";
        }
        return grid;
    }

    /**
     * Renders {@code schedule} with the action at ({@code device}, {@code index}) marked; {@code -1} marks
     * nothing. Used where the same action value may occur twice (a broken schedule).
     */
    static String render(Schedule schedule, int markedDevice, int markedIndex) {
        int width = 0;
        for (List<Action> l : schedule.actionsByDevice()) {
            width = Math.max(width, l.size());
        }
        int from = 0;
        int to = width;
        if (width > MAX_COLUMNS) {
            int center = markedIndex >= 0 ? markedIndex : 0;
            from = Math.max(0, Math.min(center - MAX_COLUMNS / 2, width - MAX_COLUMNS));
            to = from + MAX_COLUMNS;
        }
        String[][] cells = new String[schedule.devices()][to - from];
        int[] colWidth = new int[to - from];
        for (int c = from; c < to; c++) {
            colWidth[c - from] = Integer.toString(c).length() + 2;
        }
        for (int d = 0; d < schedule.devices(); d++) {
            List<Action> l = schedule.actions(d);
            for (int c = from; c < to; c++) {
                String cell;
                if (c >= l.size()) {
                    cell = "";
                } else if (d == markedDevice && c == markedIndex) {
                    cell = "[" + l.get(c) + "]";
                } else {
                    cell = " " + l.get(c) + " ";
                }
                cells[d][c - from] = cell;
                colWidth[c - from] = Math.max(colWidth[c - from], cell.length());
            }
        }
        String rowLabel = "dev " + (schedule.devices() - 1);
        StringBuilder sb = new StringBuilder();
        sb.append(schedule.kind().label()).append(": ").append(schedule.devices()).append(" devices x ")
                .append(schedule.stagesPerDevice()).append(" stage(s) per device, ").append(schedule.microBatches())
                .append(" micro-batches");
        if (from > 0 || to < width) {
            sb.append(", showing actions ").append(from).append("..").append(to - 1).append(" of ").append(width);
        }
        sb.append('\n');
        pad(sb, "", rowLabel.length());
        for (int c = from; c < to; c++) {
            sb.append(' ');
            pad(sb, " " + c, colWidth[c - from]);
        }
        trimEnd(sb);
        sb.append('\n');
        for (int d = 0; d < schedule.devices(); d++) {
            pad(sb, "dev " + d, rowLabel.length());
            for (int c = from; c < to; c++) {
                sb.append(' ');
                pad(sb, cells[d][c - from], colWidth[c - from]);
            }
            trimEnd(sb);
            sb.append('\n');
        }
        return sb.toString();
    }

    private static void pad(StringBuilder sb, String s, int width) {
        sb.append(s);
        for (int i = s.length(); i < width; i++) {
            sb.append(' ');
        }
    }

    private static void trimEnd(StringBuilder sb) {
        int n = sb.length();
        while (n > 0 && sb.charAt(n - 1) == ' ') {
            n--;
        }
        sb.setLength(n);
    }
}
