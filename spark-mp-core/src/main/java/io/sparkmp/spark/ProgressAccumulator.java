package io.sparkmp.spark;

import org.apache.spark.util.AccumulatorV2;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * Live progress from the barrier tasks: each task adds its per-step records; executors ship the running
 * value with every heartbeat ({@code spark.executor.heartbeatInterval}), where {@link ProgressListener}
 * reads it. Keeps only the latest {@link #CAPACITY} records so heartbeats stay small; the complete
 * per-step history comes back with the task results.
 */
final class ProgressAccumulator extends AccumulatorV2<RankStep, List<RankStep>> {
    static final int CAPACITY = 64;
    private static final long serialVersionUID = 1L;

    /**
     * Not final and read through {@link #latest()}: Spark registers an accumulator with the task (where the
     * executor's heartbeat thread can see it) from the superclass's readObject, before this field is
     * deserialized. A null here must not throw: an exception kills the executor's heartbeat thread.
     */
    private ArrayDeque<RankStep> latest = new ArrayDeque<>();

    private synchronized ArrayDeque<RankStep> latest() {
        if (latest == null) {
            latest = new ArrayDeque<>();
        }
        return latest;
    }

    @Override
    public synchronized boolean isZero() {
        return latest().isEmpty();
    }

    @Override
    public synchronized AccumulatorV2<RankStep, List<RankStep>> copy() {
        ProgressAccumulator c = new ProgressAccumulator();
        c.latest().addAll(latest());
        return c;
    }

    @Override
    public synchronized void reset() {
        latest().clear();
    }

    @Override
    public synchronized void add(RankStep v) {
        ArrayDeque<RankStep> q = latest();
        q.addLast(v);
        while (q.size() > CAPACITY) {
            q.removeFirst();
        }
    }

    @Override
    public void merge(AccumulatorV2<RankStep, List<RankStep>> other) {
        for (RankStep r : other.value()) {
            add(r);
        }
    }

    @Override
    public synchronized List<RankStep> value() {
        return new ArrayList<>(latest());
    }
}
