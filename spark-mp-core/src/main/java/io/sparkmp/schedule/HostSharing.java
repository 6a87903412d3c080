package io.sparkmp.schedule;

import java.util.Locale;

/**
 * Devices that share one host's cores and memory slow each other down while they compute at once; for
 * {@link ScheduleSimulator} (processor sharing). Devices {@code d} with the same {@code d / devicesPerHost} share a
 * host; each device's work runs {@code copies} times at once there (data-parallel replicas of the same pipeline on
 * that host, which run the same schedule in lock-step). While {@code k} tasks of a host run an action at once, each
 * makes progress at {@code 1 / slowdown(k)} of its own speed, where {@code slowdown(1) = 1} and
 * {@code slowdown(tasksPerHost()) = slowdown}, linear between. A device waiting for a tensor does not count.
 *
 * @param devicesPerHost consecutive devices of the schedule on one host, {@code >= 1}
 * @param copies the schedule's copies on one host ({@code >= 1}: 1 unless replicas share it)
 * @param slowdown how much longer an action takes while every task of the host runs one, {@code >= 1}
 */
public record HostSharing(int devicesPerHost, int copies, double slowdown) implements java.io.Serializable {

    private static final long serialVersionUID = 1L;

    /** No sharing: every device computes at its own speed whatever the others do. */
    public static final HostSharing NONE = new HostSharing(1, 1, 1.0);

    public HostSharing {
        if (devicesPerHost < 1 || copies < 1) {
            throw new IllegalArgumentException("devicesPerHost and copies must be >= 1, found " + devicesPerHost
                    + " and " + copies);
        }
        if (!(slowdown >= 1) || Double.isInfinite(slowdown)) {
            throw new IllegalArgumentException("slowdown must be finite and >= 1, found " + slowdown);
        }
    }

    /** Tasks on one host that run at once: devicesPerHost x copies. */
    public int tasksPerHost() {
        return devicesPerHost * copies;
    }

    /** Whether any action can be slowed: more than one task per host and a slowdown above 1. */
    public boolean slows() {
        return tasksPerHost() > 1 && slowdown > 1;
    }

    /** How much longer an action takes while {@code running} tasks of its host (itself included) run one. */
    public double slowdown(int running) {
        if (running <= 1 || !slows()) {
            return 1;
        }
        int k = Math.min(running, tasksPerHost());
        return 1 + (slowdown - 1) * (k - 1) / (tasksPerHost() - 1);
    }

    @Override
    public String toString() {
        return slows() ? String.format(Locale.ROOT, "%d devices x %d per host, %.3fx while all compute",
                devicesPerHost, copies, slowdown) : "not shared";
    }
}
