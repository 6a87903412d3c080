package io.sparkmp.spark;

import io.sparkmp.plan.PipelinePlan;
import io.sparkmp.plan.PredictedTimeline;
import io.sparkmp.report.TimelineReport;
import io.sparkmp.report.TimelineReport.StepPoint;
import io.sparkmp.report.TimelineReport.TimelineData;
import io.sparkmp.runtime.ActionEvent;
import io.sparkmp.runtime.RankTimeline;
import io.sparkmp.runtime.TimelineSampling;
import io.sparkmp.schedule.SimulationResult;

import java.io.IOException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The measured timeline of one fit: every rank's actions and waits of the sampled steps (see
 * {@code spark.mp.timeline.*}), shipped to the driver with the task results. {@link #report} puts it beside
 * the plan's predicted step ({@link PredictedTimeline}) and the per-step figures, as the data of a
 * {@link TimelineReport}. Immutable.
 */
public final class TimelineCapture {

    /** No timeline was recorded. */
    public static final TimelineCapture NONE = new TimelineCapture(List.of(), 0);

    private final List<ActionEvent> events;
    private final long dropped;

    private TimelineCapture(List<ActionEvent> events, long dropped) {
        this.events = List.copyOf(events);
        this.dropped = dropped;
    }

    /** The capture of the ranks' timelines; null entries (ranks that recorded nothing) are skipped. */
    static TimelineCapture of(List<RankTimeline> timelines) {
        List<ActionEvent> all = new ArrayList<>();
        long dropped = 0;
        boolean any = false;
        for (RankTimeline t : timelines) {
            if (t != null) {
                all.addAll(t.events());
                dropped += t.dropped();
                any = true;
            }
        }
        return any ? new TimelineCapture(all, dropped) : NONE;
    }

    /** What each rank records when the timeline is written to {@code path}: null when the path is empty. */
    static TimelineSampling sampling(String path, SparkMpConf conf) {
        return path.isEmpty() ? null : new TimelineSampling(conf.get(SparkMpConf.TIMELINE_FIRST_STEP),
                conf.get(SparkMpConf.TIMELINE_STEPS), conf.get(SparkMpConf.TIMELINE_EVERY),
                conf.get(SparkMpConf.TIMELINE_MAX_EVENTS));
    }

    /** Whether anything was recorded (false when the timeline was off). */
    public boolean recorded() {
        return this != NONE;
    }

    /** The recorded events of every rank, rank by rank in recording order. */
    public List<ActionEvent> events() {
        return events;
    }

    /** Events the ranks did not keep because {@code spark.mp.timeline.maxEvents} was reached. */
    public long dropped() {
        return dropped;
    }

    /** The report data of {@code result}: its measured timeline, its plan's predicted step and its steps. */
    static TimelineData report(TrainingResult result) {
        if (result == null) {
            throw new IllegalArgumentException("result must not be null");
        }
        PipelinePlan plan = result.plan();
        int devices = plan != null ? plan.devices() : devicesOf(result.timeline().events());
        List<StepPoint> steps = new ArrayList<>(result.metrics().size());
        for (StepReport s : result.metrics()) {
            steps.add(new StepPoint(s.step(), s.loss(), s.samplesPerSecond(), s.stepSeconds()));
        }
        return new TimelineData(title(plan), Math.max(1, devices), result.timeline().events(),
                plan == null ? null : PredictedTimeline.of(plan), steps, facts(result));
    }

    /**
     * Writes the report of {@code result} to {@code file} (replaced atomically).
     *
     * @throws IOException if the file cannot be written
     */
    public static void write(Path file, TrainingResult result) throws IOException {
        TimelineReport.write(file, report(result));
    }

    /** Writes the report when {@code path} is set; a failure is logged, never thrown over a finished fit. */
    static void writeIfAsked(String path, TrainingResult result, org.slf4j.Logger log) {
        if (path.isEmpty()) {
            return;
        }
        try {
            write(Paths.get(path), result);
            log.info("spark-mp: timeline ({} events, {} dropped) written to {}", result.timeline().events().size(),
                    result.timeline().dropped(), path);
        } catch (IOException | RuntimeException e) {
            log.warn("spark-mp: could not write the timeline to {}: {}", path, e.toString());
        }
    }

    private static int devicesOf(List<ActionEvent> events) {
        int max = -1;
        for (ActionEvent e : events) {
            max = Math.max(max, e.rank());
        }
        return max + 1;
    }

    private static String title(PipelinePlan plan) {
        return plan == null ? "spark-mp timeline" : "spark-mp timeline: " + plan.schedule().label() + ", P=" + plan.devices()
                + (plan.stagesPerDevice() > 1 ? ", v=" + plan.stagesPerDevice() : "") + ", M=" + plan.microBatches();
    }

    private static Map<String, String> facts(TrainingResult r) {
        Map<String, String> f = new LinkedHashMap<>();
        PipelinePlan plan = r.plan();
        if (plan != null) {
            f.put("schedule", plan.schedule().label());
            f.put("stages P x v", plan.devices() + " x " + plan.stagesPerDevice());
            f.put("micro-batches M", Integer.toString(plan.microBatches()));
            f.put("batch", plan.batchSize() + " (" + plan.microBatchSize() + " per micro-batch)");
            f.put("boundaries", Arrays.toString(plan.boundaries()));
            f.put("predicted step", ms(plan.predictedStepSeconds()) + ", bubble " + pct(plan.bubbleFraction())
                    + " (" + plan.stepTimeMethod() + ", layer times " + plan.timeSource().name().toLowerCase(Locale.ROOT) + ")");
        }
        f.put("measured median step", ms(r.medianStepSeconds()) + " over " + r.metrics().size() + " steps");
        f.put("events", r.timeline().events().size() + " recorded, " + r.timeline().dropped() + " dropped");
        return f;
    }

    private static String ms(double seconds) {
        return String.format(Locale.ROOT, "%.3f ms", seconds * 1e3);
    }

    private static String pct(double fraction) {
        return String.format(Locale.ROOT, "%.1f%%", fraction * 100);
    }
}
