package io.sparkmp.runtime;

import java.util.ArrayList;
import java.util.List;

/**
 * Records the actions of sampled steps on one rank, for the timeline. Unsampled steps cost one branch per
 * action; sampled ones write into arrays allocated once, and events past {@code maxEvents} (until the
 * next {@link #drain()}) are counted in {@link #dropped()} rather than kept, so a long run cannot grow
 * the recorder without bound.
 *
 * <p>Sampling: see {@link TimelineSampling}; the {@code (rank, firstSteps, every, maxEvents)} constructor
 * records the first {@code firstSteps} steps (steps are 0-based, so {@code 0 .. firstSteps - 1}) and every
 * step that is a multiple of {@code every} ({@code every = 0}: none besides the first ones).
 *
 * <p>Times passed to {@link #record} are raw {@code System.nanoTime()} values; they are mapped onto
 * wall-clock epoch nanoseconds with one offset taken once per JVM, so events of ranks in one JVM (or on
 * one host) share a time base and stay monotonic even if the wall clock is adjusted during the run.
 *
 * <p>Thread-safe (record and drain may run on different threads); meant to be owned by one rank.
 */
@io.sparkmp.Internal
public final class ActionRecorder {

    /** Epoch nanoseconds minus {@code System.nanoTime()}, fixed once per JVM. */
    private static final long EPOCH_OFFSET_NANOS = System.currentTimeMillis() * 1_000_000L - System.nanoTime();

    private final int rank;
    private final TimelineSampling sampling;
    private final long[] steps;
    private final int[] stages;
    private final String[] kinds;
    private final int[] microBatches;
    private final long[] starts;
    private final long[] ends;
    private int size;
    private long dropped;

    /**
     * @param rank the rank whose actions this records
     * @param firstSteps how many steps from step 0 to record, {@code >= 0}
     * @param every also record steps that are multiples of this, {@code >= 0} (0: no periodic sampling)
     * @param maxEvents most events held between two drains, {@code >= 0}
     * @throws IllegalArgumentException if a value is negative
     */
    public ActionRecorder(int rank, int firstSteps, int every, int maxEvents) {
        this(rank, sampling(firstSteps, every, maxEvents));
    }

    /**
     * @param rank the rank whose actions this records
     * @param sampling the steps to record and the most events held between two drains
     * @throws IllegalArgumentException if the rank is negative or the sampling null
     */
    public ActionRecorder(int rank, TimelineSampling sampling) {
        if (rank < 0) {
            throw new IllegalArgumentException("rank must be >= 0, found " + rank);
        }
        if (sampling == null) {
            throw new IllegalArgumentException("sampling must not be null");
        }
        this.rank = rank;
        this.sampling = sampling;
        int maxEvents = sampling.maxEvents();
        steps = new long[maxEvents];
        stages = new int[maxEvents];
        kinds = new String[maxEvents];
        microBatches = new int[maxEvents];
        starts = new long[maxEvents];
        ends = new long[maxEvents];
    }

    /** Whether actions of {@code step} are recorded: the stage worker can skip timing the others. */
    public boolean sampled(long step) {
        return step >= 0 && sampling.sampled(step);
    }

    private static TimelineSampling sampling(int firstSteps, int every, int maxEvents) {
        if (firstSteps < 0) {
            throw new IllegalArgumentException("firstSteps must be >= 0, found " + firstSteps);
        }
        if (every < 0) {
            throw new IllegalArgumentException("every must be >= 0, found " + every);
        }
        if (maxEvents < 0) {
            throw new IllegalArgumentException("maxEvents must be >= 0, found " + maxEvents);
        }
        // Step 0 is a multiple of every step count: the old contract samples it whenever every > 0.
        return new TimelineSampling(0, firstSteps == 0 && every > 0 ? 1 : firstSteps, every, maxEvents);
    }

    /**
     * Records one action if {@code step} is sampled and there is room.
     *
     * @param stage pipeline stage, or -1 when none
     * @param kind short label (an {@link io.sparkmp.schedule.ActionType#code()} or {@link ActionEvent#LOAD},
     *     {@link ActionEvent#LOSS}, {@link ActionEvent#WAIT})
     * @param mb micro-batch, or {@link ActionEvent#NO_MICRO_BATCH}
     * @param startNano {@code System.nanoTime()} at the start
     * @param endNano {@code System.nanoTime()} at the end, not before {@code startNano}
     * @throws IllegalArgumentException if {@code kind} is null or empty, or the end is before the start
     */
    public synchronized void record(long step, int stage, String kind, int mb, long startNano, long endNano) {
        if (!sampled(step)) {
            return;
        }
        if (kind == null || kind.isEmpty()) {
            throw new IllegalArgumentException("kind must be a non-empty label, found " + (kind == null ? "null" : "''"));
        }
        // nanoTime values may be negative or wrap; only their difference is meaningful.
        if (endNano - startNano < 0) {
            throw new IllegalArgumentException("endNano (" + endNano + ") is before startNano (" + startNano
                    + ") for " + kind + " of step " + step + " on rank " + rank);
        }
        if (size == steps.length) {
            dropped++;
            return;
        }
        steps[size] = step;
        stages[size] = stage;
        kinds[size] = kind;
        microBatches[size] = mb;
        starts[size] = startNano;
        ends[size] = endNano;
        size++;
    }

    /** The events recorded since the last drain, in recording order; the recorder is empty afterwards. */
    public synchronized List<ActionEvent> drain() {
        List<ActionEvent> out = new ArrayList<>(size);
        for (int i = 0; i < size; i++) {
            out.add(new ActionEvent(rank, steps[i], stages[i], kinds[i], microBatches[i],
                    toEpochNanos(starts[i]), toEpochNanos(ends[i])));
            kinds[i] = null;
        }
        size = 0;
        return out;
    }

    /** {@link #drain()} in the compact form shipped to the driver, with {@link #dropped()}. */
    public synchronized RankTimeline drainTimeline() {
        return RankTimeline.of(rank, drain(), dropped);
    }

    /** Events not kept, over the recorder's life, because {@code maxEvents} were already held. */
    public synchronized long dropped() {
        return dropped;
    }

    /** The rank this recorder belongs to. */
    public int rank() {
        return rank;
    }

    /** {@code System.nanoTime()} value {@code nanoTime} as wall-clock nanoseconds since the epoch. */
    public static long toEpochNanos(long nanoTime) {
        return nanoTime + EPOCH_OFFSET_NANOS;
    }
}
