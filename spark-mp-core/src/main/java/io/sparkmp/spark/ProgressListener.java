package io.sparkmp.spark;

import org.apache.spark.scheduler.AccumulableInfo;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerExecutorMetricsUpdate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Tuple4;
import scala.collection.JavaConverters;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * Driver-side live progress: reads the {@link ProgressAccumulator} values that executor heartbeats carry
 * and reports one line per {@code logEvery} steps (the latest step all P ranks have finished; with fast
 * steps and slow heartbeats some multiples are skipped rather than reported late).
 */
final class ProgressListener extends SparkListener {
    private static final Logger LOG = LoggerFactory.getLogger(PipelineTrainer.class);

    private final long accumulatorId;
    private final int devices;
    private final int lossRank;
    private final int logEvery;
    private final Consumer<StepReport> sink;
    private final TreeMap<Long, Map<Integer, RankStep>> pending = new TreeMap<>();
    private int attempt = -1;
    private long lastBucket = -1;
    private final List<StepReport> reported = new ArrayList<>();

    ProgressListener(long accumulatorId, int devices, int lossRank, int logEvery, Consumer<StepReport> sinkOrNull) {
        this.accumulatorId = accumulatorId;
        this.devices = devices;
        this.lossRank = lossRank;
        this.logEvery = logEvery;
        this.sink = sinkOrNull != null ? sinkOrNull : r -> LOG.info("progress: {}", r);
    }

    @Override
    public void onExecutorMetricsUpdate(SparkListenerExecutorMetricsUpdate update) {
        for (Tuple4<Object, Object, Object, scala.collection.Seq<AccumulableInfo>> t
                : JavaConverters.seqAsJavaList(update.accumUpdates())) {
            for (AccumulableInfo info : JavaConverters.seqAsJavaList(t._4())) {
                if (info.id() == accumulatorId && info.update().isDefined() && info.update().get() instanceof List<?> l) {
                    for (Object o : l) {
                        if (o instanceof RankStep r) {
                            offer(r);
                        }
                    }
                }
            }
        }
    }

    /** Takes one record; reports a step once all ranks have sent it and it starts a new logEvery bucket. */
    synchronized void offer(RankStep r) {
        if (logEvery <= 0 || r.attempt() < attempt) {
            return;
        }
        if (r.attempt() > attempt) { // a retried stage starts over
            attempt = r.attempt();
            pending.clear();
            lastBucket = -1;
        }
        pending.computeIfAbsent(r.step(), s -> new HashMap<>()).put(r.rank(), r);
        Long done = null;
        for (Map.Entry<Long, Map<Integer, RankStep>> e : pending.entrySet()) {
            if (e.getValue().size() == devices) {
                done = e.getKey();
            }
        }
        if (done == null) {
            return;
        }
        long bucket = (done + 1) / logEvery;
        if (bucket > lastBucket) {
            lastBucket = bucket;
            StepReport report = StepReport.merge(new ArrayList<>(pending.get(done).values()), lossRank);
            reported.add(report);
            sink.accept(report);
        }
        pending.headMap(done, true).clear();
    }

    /** The live lines reported so far. */
    synchronized List<StepReport> reported() {
        return List.copyOf(reported);
    }
}
