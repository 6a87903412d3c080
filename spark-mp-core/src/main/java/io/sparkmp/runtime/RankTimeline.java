package io.sparkmp.runtime;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One rank's recorded timeline in compact form, for shipping with its task result: one column per
 * {@link ActionEvent} field, the kind as an index into a small table of labels, times as epoch nanoseconds.
 * About 35 bytes per event serialized, against 48 for a list of records (measured on 208 events). Immutable.
 */
@io.sparkmp.Internal
public final class RankTimeline implements Serializable {

    private static final long serialVersionUID = 1L;

    private final int rank;
    private final long dropped;
    private final String[] kindTable;
    private final long[] steps;
    private final int[] stages;
    private final byte[] kinds;
    private final int[] microBatches;
    private final long[] starts;
    private final long[] ends;

    private RankTimeline(int rank, long dropped, String[] kindTable, long[] steps, int[] stages, byte[] kinds,
                         int[] microBatches, long[] starts, long[] ends) {
        this.rank = rank;
        this.dropped = dropped;
        this.kindTable = kindTable;
        this.steps = steps;
        this.stages = stages;
        this.kinds = kinds;
        this.microBatches = microBatches;
        this.starts = starts;
        this.ends = ends;
    }

    /**
     * The timeline of {@code events}, all of rank {@code rank}.
     *
     * @param dropped events the recorder did not keep (its cap was reached)
     * @throws IllegalArgumentException if an event belongs to another rank, dropped is negative, or there are
     *     more than 127 distinct kinds
     */
    public static RankTimeline of(int rank, List<ActionEvent> events, long dropped) {
        if (rank < 0 || dropped < 0) {
            throw new IllegalArgumentException("rank and dropped must be >= 0, found " + rank + " and " + dropped);
        }
        int n = events.size();
        Map<String, Byte> table = new LinkedHashMap<>();
        long[] steps = new long[n];
        int[] stages = new int[n];
        byte[] kinds = new byte[n];
        int[] mbs = new int[n];
        long[] starts = new long[n];
        long[] ends = new long[n];
        for (int i = 0; i < n; i++) {
            ActionEvent e = events.get(i);
            if (e.rank() != rank) {
                throw new IllegalArgumentException("event of rank " + e.rank() + " in the timeline of rank " + rank + ": " + e);
            }
            Byte k = table.get(e.kind());
            if (k == null) {
                if (table.size() == Byte.MAX_VALUE) {
                    throw new IllegalArgumentException("more than " + Byte.MAX_VALUE + " event kinds");
                }
                k = (byte) table.size();
                table.put(e.kind(), k);
            }
            steps[i] = e.step();
            stages[i] = e.stage();
            kinds[i] = k;
            mbs[i] = e.microBatch();
            starts[i] = e.startNanos();
            ends[i] = e.endNanos();
        }
        return new RankTimeline(rank, dropped, table.keySet().toArray(new String[0]), steps, stages, kinds, mbs, starts,
                ends);
    }

    /** The rank the events belong to. */
    public int rank() {
        return rank;
    }

    /** Events the rank's recorder did not keep because its cap was reached. */
    public long dropped() {
        return dropped;
    }

    /** Number of events. */
    public int size() {
        return steps.length;
    }

    /** The events, in recording order. */
    public List<ActionEvent> events() {
        List<ActionEvent> out = new ArrayList<>(steps.length);
        for (int i = 0; i < steps.length; i++) {
            out.add(new ActionEvent(rank, steps[i], stages[i], kindTable[kinds[i]], microBatches[i], starts[i], ends[i]));
        }
        return out;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof RankTimeline t && rank == t.rank && dropped == t.dropped && events().equals(t.events());
    }

    @Override
    public int hashCode() {
        return 31 * rank + Arrays.hashCode(starts);
    }

    @Override
    public String toString() {
        return "RankTimeline[rank " + rank + ", " + steps.length + " events, " + dropped + " dropped]";
    }
}
