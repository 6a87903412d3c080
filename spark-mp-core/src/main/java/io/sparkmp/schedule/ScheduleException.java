package io.sparkmp.schedule;

/**
 * A schedule that cannot run as written: an action out of order, missing or duplicated, a send without
 * its receive, or a deadlock. The message names the problem and shows the device x step grid with the
 * offending action marked (see {@link ScheduleGrid}).
 */
@io.sparkmp.Internal
public final class ScheduleException extends IllegalStateException {

    private static final long serialVersionUID = 1L;

    private final transient Action action;

    ScheduleException(String problem, Schedule schedule, int device, int index) {
        super(problem + "\n" + ScheduleGrid.render(schedule, device, index));
        this.action = device >= 0 && index >= 0 ? schedule.actions(device).get(index) : null;
    }

    /** The marked action, or {@code null} when the problem is not at one action (e.g. an empty device). */
    public Action action() {
        return action;
    }
}
