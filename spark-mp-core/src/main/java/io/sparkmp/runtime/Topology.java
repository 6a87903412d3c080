package io.sparkmp.runtime;

import java.io.Serializable;

/**
 * Where a task (rank) sits in a hybrid job of R data-parallel replicas of a P-device pipeline: rank
 * {@code replica * P + device}. With R = 1 a rank is its pipeline device, as in a pure pipeline. Every place that
 * interprets a rank (links, data route, schedule, results) asks this record.
 *
 * <p>A rank links to its pipeline neighbours in its own replica and, with R &gt; 1, to the ranks of the same device
 * in the replicas before and after it on the ring ({@link #ringOf}), over which that device's gradients are summed.
 *
 * @param devices pipeline devices P of each replica
 * @param replicas data-parallel replicas R
 */
@io.sparkmp.Internal
public record Topology(int devices, int replicas) implements Serializable {

    private static final long serialVersionUID = 1L;

    public Topology {
        if (devices <= 0) {
            throw new IllegalArgumentException("devices must be positive, found " + devices);
        }
        if (replicas <= 0) {
            throw new IllegalArgumentException("replicas must be positive, found " + replicas);
        }
    }

    /** All ranks, P * R: the barrier job's task count. */
    public int ranks() {
        return devices * replicas;
    }

    /** The rank of pipeline device {@code device} in replica {@code replica}. */
    public int rank(int device, int replica) {
        if (device < 0 || device >= devices) {
            throw new IllegalArgumentException("device " + device + " is out of range [0, " + devices + ")");
        }
        if (replica < 0 || replica >= replicas) {
            throw new IllegalArgumentException("replica " + replica + " is out of range [0, " + replicas + ")");
        }
        return replica * devices + device;
    }

    /** The pipeline device of {@code rank}. */
    public int device(int rank) {
        return checked(rank) % devices;
    }

    /** The replica of {@code rank}. */
    public int replica(int rank) {
        return checked(rank) / devices;
    }

    /** The ranks of device {@code device} in replica order: the ring its gradients are summed over. */
    public int[] ringOf(int device) {
        int[] out = new int[replicas];
        for (int r = 0; r < replicas; r++) {
            out[r] = rank(device, r);
        }
        return out;
    }

    /** Whether {@code rank} reads training rows: device 0 of every replica. */
    public boolean readsData(int rank) {
        return device(rank) == 0;
    }

    /** {@code "rank 3 (device 1 of replica 1)"}, or {@code "rank 1"} with one replica. */
    public String describe(int rank) {
        return replicas == 1 ? "rank " + rank : "rank " + rank + " (device " + device(rank) + " of replica "
                + replica(rank) + ")";
    }

    private int checked(int rank) {
        if (rank < 0 || rank >= ranks()) {
            throw new IllegalArgumentException("rank " + rank + " is out of range [0, " + ranks() + ")");
        }
        return rank;
    }
}
