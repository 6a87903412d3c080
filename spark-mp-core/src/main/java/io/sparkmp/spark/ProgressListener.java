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
 * steps and slow heartbeats some multiples are skipped rather than reported late), with "step i of N" and the
 * time left ({@link #progressLine}).
 *
 * <p>It also reports, in one line per failed attempt of the training's barrier stage, the task that failed
 * first (the cause; its neighbours then fail on the closed links, and Spark kills the rest): which rank,
 * executor and host, the last step its heartbeats reported, why, and how many attempts Spark has left
 * ({@link #failures()}).
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
    private final java.util.function.LongSupplier clock;
    /** Driver time and step count (steps done) of this attempt's first report; -1 before it. */
    private long firstReportNanos = -1;
    private long firstReportStep;
    private long endStep = -1;
    /** The line of the report being handed to the default sink. */
    private String lastLine = "";
    private final List<StepReport> reported = new ArrayList<>();
    private final String jobDescription;
    private final int maxAttempts;
    private final boolean checkpoints;
    private final java.util.Set<Integer> trainingStages = new java.util.HashSet<>();
    private final Map<String, Long> lastStepOfRank = new HashMap<>();
    private final List<String> failures = new ArrayList<>();
    /** Stage attempt to the index in {@link #failures} of the failure named its cause. */
    private final Map<Integer, Integer> failedAttempts = new HashMap<>();
    /** Stage attempts whose recorded failure only says a peer went away (a cause may still come). */
    private final java.util.Set<Integer> causeStillOpen = new java.util.HashSet<>();
    /** "attempt:call" to the ranks that reported arriving at that barrier call. */
    private final Map<String, java.util.SortedSet<Integer>> arrivals = new HashMap<>();
    private static final java.util.regex.Pattern BARRIER_CALL =
            java.util.regex.Pattern.compile("at barrier call (\\d+) \\(allGather, (.*?)\\) and not every rank");

    ProgressListener(long accumulatorId, int devices, int lossRank, int logEvery, Consumer<StepReport> sinkOrNull) {
        this(accumulatorId, devices, lossRank, logEvery, sinkOrNull, "", 4, false);
    }

    /**
     * @param jobDescription the Spark job description of the training job (its stages are watched for failures)
     * @param maxAttempts {@code spark.stage.maxConsecutiveAttempts}
     * @param checkpoints whether a retry resumes from a checkpoint (else from the start)
     */
    ProgressListener(long accumulatorId, int devices, int lossRank, int logEvery, Consumer<StepReport> sinkOrNull,
                     String jobDescription, int maxAttempts, boolean checkpoints) {
        this(accumulatorId, devices, lossRank, logEvery, sinkOrNull, jobDescription, maxAttempts, checkpoints,
                System::nanoTime);
    }

    /** @param clock the driver's clock in nanoseconds (the time left is measured on it) */
    ProgressListener(long accumulatorId, int devices, int lossRank, int logEvery, Consumer<StepReport> sinkOrNull,
                     String jobDescription, int maxAttempts, boolean checkpoints, java.util.function.LongSupplier clock) {
        this.clock = clock;
        this.jobDescription = jobDescription;
        this.maxAttempts = maxAttempts;
        this.checkpoints = checkpoints;
        this.accumulatorId = accumulatorId;
        this.devices = devices;
        this.lossRank = lossRank;
        this.logEvery = logEvery;
        this.sink = sinkOrNull != null ? sinkOrNull : r -> LOG.info("progress: {}", lastLine);
    }

    /**
     * The driver's line for {@code r} reported at {@code nowNanos}: the step report, then "step i of N" and the
     * time left when the end step is known; the time left is the steps still to run at the rate measured on the
     * driver's clock since the first report of this attempt (none on that first report).
     */
    String progressLine(StepReport r, long endStep, long nowNanos) {
        if (endStep <= 0) {
            return r.toString();
        }
        long done = r.step() + 1;
        StringBuilder sb = new StringBuilder(r.toString()).append(String.format(java.util.Locale.ROOT,
                " | step %d of %d (%.0f%%)", done, endStep, 100.0 * done / endStep));
        if (firstReportNanos >= 0 && done > firstReportStep) {
            double perStep = (nowNanos - firstReportNanos) / 1e9 / (done - firstReportStep);
            sb.append(", about ").append(duration(perStep * Math.max(0, endStep - done))).append(" left");
        }
        return sb.toString();
    }

    /** The line of the latest report (what the default sink logs after "progress: "). */
    synchronized String lastLine() {
        return lastLine;
    }

    /** "45 s", "3 min 20 s", "2 h 05 min". */
    static String duration(double seconds) {
        long s = Math.round(seconds);
        if (s < 60) {
            return s + " s";
        }
        if (s < 3600) {
            return String.format(java.util.Locale.ROOT, "%d min %02d s", s / 60, s % 60);
        }
        return String.format(java.util.Locale.ROOT, "%d h %02d min", s / 3600, (s % 3600) / 60);
    }

    @Override
    public void onExecutorMetricsUpdate(SparkListenerExecutorMetricsUpdate update) {
        // The wildcard: the update's Seq is scala.collection.Seq on Scala 2.12, immutable.Seq on 2.13 (Spark 4).
        for (Tuple4<Object, Object, Object, ? extends scala.collection.Seq<AccumulableInfo>> t
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
        if (r.isArrival()) {
            arrivals.computeIfAbsent(r.attempt() + ":" + r.arrivalCall(), k -> new java.util.TreeSet<>()).add(r.rank());
            return;
        }
        lastStepOfRank.merge(r.attempt() + ":" + r.rank(), r.step(), Math::max);
        if (logEvery <= 0 || r.attempt() < attempt) {
            return;
        }
        if (r.attempt() > attempt) { // a retried stage starts over
            attempt = r.attempt();
            pending.clear();
            lastBucket = -1;
            firstReportNanos = -1;
        }
        endStep = Math.max(endStep, r.endStep());
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
            long now = clock.getAsLong();
            lastLine = progressLine(report, endStep, now);
            if (firstReportNanos < 0) {
                firstReportNanos = now;
                firstReportStep = report.step() + 1;
            }
            sink.accept(report);
        }
        pending.headMap(done, true).clear();
    }

    @Override
    public synchronized void onJobStart(org.apache.spark.scheduler.SparkListenerJobStart start) {
        String d = start.properties() == null ? null : start.properties().getProperty("spark.job.description");
        if (!jobDescription.isEmpty() && jobDescription.equals(d)) {
            for (Object id : JavaConverters.seqAsJavaList(start.stageIds())) {
                trainingStages.add((Integer) id);
            }
        }
    }

    @Override
    public synchronized void onTaskEnd(org.apache.spark.scheduler.SparkListenerTaskEnd end) {
        if (!trainingStages.contains(end.stageId()) || end.reason() instanceof org.apache.spark.Success$
                || end.reason() instanceof org.apache.spark.TaskKilled) {
            return; // tasks killed because another rank failed are not the cause
        }
        String why = end.reason() instanceof org.apache.spark.TaskFailedReason f ? f.toErrorString() : end.reason().toString();
        why = why.strip().split("\n", 2)[0] + missingRanks(end.stageAttemptId(), why);
        int rank = end.taskInfo().index();
        Long step = lastStepOfRank.get(end.stageAttemptId() + ":" + rank);
        int attemptsLeft = Math.max(0, maxAttempts - end.stageAttemptId() - 1);
        String line = "rank " + rank + " (stage attempt " + end.stageAttemptId() + ", executor "
                + end.taskInfo().executorId() + " on " + end.taskInfo().host() + ") failed "
                + (step == null ? "before reporting a step" : "(last reported step " + step + ")") + ": " + why + "; "
                + (attemptsLeft == 0 ? "no attempts left" : attemptsLeft + " attempt(s) left, a retry resumes "
                + (checkpoints ? "from the newest checkpoint" : "from the start (no spark.mp.checkpoint.dir)"));
        if (recordFailure(end.stageAttemptId(), line, why)) {
            LOG.warn("spark-mp: {}", line);
        }
    }

    /**
     * Keeps one failure per stage attempt, its cause: the first one, unless it only says that a peer closed its
     * channel (a neighbour of the rank that failed, whose report can reach the driver first) and a later one of the
     * same attempt does not; that one then takes its place.
     *
     * @return whether {@code line} is now the attempt's recorded failure
     */
    synchronized boolean recordFailure(int stageAttempt, String line, String why) {
        boolean consequence = lostAPeer(why);
        Integer at = failedAttempts.get(stageAttempt);
        if (at == null) {
            failedAttempts.put(stageAttempt, failures.size());
            failures.add(line);
        } else if (causeStillOpen.contains(stageAttempt) && !consequence) {
            failures.set(at, line);
        } else {
            return false;
        }
        if (consequence) {
            causeStillOpen.add(stageAttempt);
        } else {
            causeStillOpen.remove(stageAttempt);
        }
        return true;
    }

    /** Whether a rank's failure only reports that another rank closed its channel (the transport's wording). */
    static boolean lostAPeer(String why) {
        return why.contains(" closed its channel");
    }

    /**
     * For a barrier timeout ({@link BarrierSync}): "; rank(s) [..] did not arrive at barrier call k (name)", from
     * the arrivals the ranks reported with their heartbeats; "" for other failures.
     */
    String missingRanks(int stageAttempt, String why) {
        if (!why.contains(BarrierSync.BarrierTimeoutException.MARK)) {
            return "";
        }
        java.util.regex.Matcher m = BARRIER_CALL.matcher(why);
        if (!m.find()) {
            return "";
        }
        java.util.SortedSet<Integer> arrived = arrivals.getOrDefault(stageAttempt + ":" + m.group(1),
                new java.util.TreeSet<>());
        List<Integer> missing = new ArrayList<>();
        for (int r = 0; r < devices; r++) {
            if (!arrived.contains(r)) {
                missing.add(r);
            }
        }
        return "; rank(s) " + missing + " did not arrive at barrier call " + m.group(1) + " (" + m.group(2)
                + "); arrived: " + arrived;
    }

    /** One line per failed training task seen so far (the cause, not the tasks Spark then killed). */
    synchronized List<String> failures() {
        return List.copyOf(failures);
    }

    /** The live lines reported so far. */
    synchronized List<StepReport> reported() {
        return List.copyOf(reported);
    }
}
