package io.sparkmp.spark;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Measured figures of one optimizer step of a pipeline-parallel training run.
 *
 * @param epoch epoch (0-based)
 * @param step global optimizer step (0-based)
 * @param loss mini-batch loss, computed by the last stage (as DL4J's {@code score()} after the step's forward)
 * @param examples examples in the mini-batch
 * @param stepSeconds wall time of the step (the slowest rank)
 * @param samplesPerSecond examples / stepSeconds
 * @param bubbleFraction share of device time spent idle in the step: 1 - sum(busy) / (P * stepSeconds);
 *                       NaN if the engine did not report busy times
 * @param memory per rank, its process's resident bytes at task start and peak in this step, for the first
 *               sampled steps (3 by default); empty for the others
 * @param attempt the Spark stage attempt whose run of the step this is: after a failure, the steps before the
 *                checkpoint the retry resumed from are those of the earlier attempt, the later ones the retry's
 * @param skipped whether every stage left the step's update out because a gradient was not finite
 *                ({@code spark.mp.nonFinite=skip}); its loss is then usually NaN
 */
public record StepReport(int epoch, long step, double loss, int examples, double stepSeconds,
                         double samplesPerSecond, double bubbleFraction, List<RankMemory> memory, int attempt,
                         boolean skipped)
        implements Serializable {

    public StepReport {
        memory = List.copyOf(memory);
    }

    /** A report without memory figures. */
    public StepReport(int epoch, long step, double loss, int examples, double stepSeconds, double samplesPerSecond,
                      double bubbleFraction) {
        this(epoch, step, loss, examples, stepSeconds, samplesPerSecond, bubbleFraction, List.of());
    }

    /** A report of a step of the first attempt that applied its update. */
    public StepReport(int epoch, long step, double loss, int examples, double stepSeconds, double samplesPerSecond,
                      double bubbleFraction, List<RankMemory> memory) {
        this(epoch, step, loss, examples, stepSeconds, samplesPerSecond, bubbleFraction, memory, 0, false);
    }

    /** Merges the P rank records of one step; the loss comes from {@code lossRank} (the last stage's device). */
    /** {@link #merge}'s lossRank for a step whose loss is the sum of every rank's share (graph pipelines). */
    static final int SUM_OF_RANKS = -1;

    static StepReport merge(List<RankStep> ranks, int lossRank) {
        if (ranks.isEmpty()) {
            throw new IllegalArgumentException("no rank records to merge");
        }
        RankStep first = ranks.get(0);
        long wall = 0;
        long busy = 0;
        boolean busyKnown = true;
        double loss = Double.NaN;
        List<RankMemory> memory = new ArrayList<>();
        int attempt = 0;
        boolean skipped = false;
        for (RankStep r : ranks) {
            attempt = Math.max(attempt, r.attempt());
            skipped |= r.skipped();
            if (r.step() != first.step()) {
                throw new IllegalArgumentException("records of steps " + first.step() + " and " + r.step() + " mixed");
            }
            wall = Math.max(wall, r.wallNanos());
            busyKnown &= r.busyNanos() >= 0;
            busy += Math.max(0, r.busyNanos());
            if (r.rank() == lossRank) {
                loss = r.loss();
            } else if (lossRank == SUM_OF_RANKS) { // a graph's loss terms live on the ranks holding its outputs
                loss = Double.isNaN(loss) ? r.loss() : loss + r.loss();
            }
            if (r.peakBytes() >= 0) {
                memory.add(new RankMemory(r.rank(), r.startBytes(), r.peakBytes()));
            }
        }
        memory.sort(Comparator.comparingInt(RankMemory::rank));
        double seconds = wall / 1e9;
        double bubble = busyKnown && wall > 0 ? Math.max(0, 1.0 - busy / ((double) ranks.size() * wall)) : Double.NaN;
        return new StepReport(first.epoch(), first.step(), loss, first.examples(), seconds,
                seconds > 0 ? first.examples() / seconds : Double.NaN, bubble, memory, attempt, skipped);
    }

    @Override
    public String toString() {
        return String.format(java.util.Locale.ROOT, "epoch %d step %d loss %.6f %.1f samples/s bubble %.2f%s%s",
                epoch, step, loss, samplesPerSecond, bubbleFraction, attempt > 0 ? " (attempt " + attempt + ")" : "",
                skipped ? " SKIPPED (non-finite gradient)" : "");
    }
}
