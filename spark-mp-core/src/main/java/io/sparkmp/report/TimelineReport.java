package io.sparkmp.report;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

import io.sparkmp.runtime.ActionEvent;
import io.sparkmp.runtime.AtomicFiles;
import io.sparkmp.schedule.SimulationResult;

/**
 * The timeline report: one self-contained HTML page (inline SVG, CSS and a small script; nothing fetched)
 * with the run's facts, a Gantt chart of the measured actions of every sampled step, the simulator's
 * predicted step drawn at the same scale, measured against predicted bubble, and loss and throughput per
 * step.
 *
 * <p>Measured times are shown in milliseconds from the step's start, the earliest event of that step over
 * all ranks. The simulator's time units are read as seconds (the planner's costs are seconds).
 */
@io.sparkmp.Internal
public final class TimelineReport {

    private TimelineReport() {
    }

    /**
     * What a report shows.
     *
     * @param title page title
     * @param devices number of devices (ranks) of the pipeline; every measured event's rank is below it
     * @param measured the recorded events of the sampled steps, in any order; may be empty
     * @param predictedOrNull the simulator's prediction of one step, or null
     * @param steps one point per optimizer step (loss NaN where not known); may be empty
     * @param facts header facts (schedule, P, M, batch, model ...), shown in iteration order
     */
    public record TimelineData(String title, int devices, List<ActionEvent> measured,
                               SimulationResult predictedOrNull, List<StepPoint> steps, Map<String, String> facts) {

        /**
         * @throws IllegalArgumentException if a value is null (other than the prediction), devices is not
         *     positive, or an event's rank is not below devices
         */
        public TimelineData {
            if (title == null) {
                throw new IllegalArgumentException("title must not be null");
            }
            if (devices <= 0) {
                throw new IllegalArgumentException("devices must be positive, found " + devices);
            }
            if (measured == null || steps == null || facts == null) {
                throw new IllegalArgumentException("measured, steps and facts must not be null (use empty ones)");
            }
            measured = List.copyOf(measured);
            for (ActionEvent e : measured) {
                if (e.rank() >= devices) {
                    throw new IllegalArgumentException("event rank (" + e.rank() + ") must be below devices ("
                            + devices + "): " + e);
                }
            }
            steps = List.copyOf(steps);
            facts = Collections.unmodifiableMap(new LinkedHashMap<>(facts));
        }
    }

    /**
     * One optimizer step's summary.
     *
     * @param step global optimizer step
     * @param loss the step's loss, NaN when unknown
     * @param samplesPerSecond examples per second of wall time, NaN when unknown
     * @param stepSeconds wall time of the step, NaN when unknown
     */
    public record StepPoint(long step, double loss, double samplesPerSecond, double stepSeconds) {
    }

    /** The measured timeline of one sampled step, times relative to its earliest event. */
    record MeasuredStep(long step, long originNanos, long makespanNanos, double bubble, List<Gantt.Bar> bars) {
    }

    /** The page's HTML. */
    public static String html(TimelineData data) {
        if (data == null) {
            throw new IllegalArgumentException("data must not be null");
        }
        List<MeasuredStep> measured = measuredSteps(data.measured(), data.devices());
        SimulationResult predicted = data.predictedOrNull();
        List<Gantt.Bar> predictedBars = predicted == null ? List.of() : predictedBars(predicted);

        Set<String> kinds = new LinkedHashSet<>();
        double axisMs = 0;
        for (MeasuredStep s : measured) {
            s.bars().forEach(bar -> kinds.add(bar.kind()));
            axisMs = Math.max(axisMs, s.makespanNanos() / 1e6);
        }
        predictedBars.forEach(bar -> kinds.add(bar.kind()));
        if (predicted != null) {
            axisMs = Math.max(axisMs, predicted.makespan() * 1e3);
        }
        KindColours colours = new KindColours(kinds);

        StringBuilder b = new StringBuilder(16_384);
        b.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>")
                .append(Html.escape(data.title())).append("</title>\n<style>").append(CSS).append("</style></head>\n<body>\n");
        b.append("<h1>").append(Html.escape(data.title())).append("</h1>\n");
        facts(b, data.facts());
        legend(b, colours);

        b.append("<h2>Measured</h2>\n");
        if (measured.isEmpty()) {
            b.append("<p class=\"empty\" data-empty=\"measured\">No measured events: no step was sampled.</p>\n");
        }
        for (MeasuredStep s : measured) {
            b.append("<h3>Step ").append(s.step()).append(": ").append(Html.num(s.makespanNanos() / 1e6, 3))
                    .append(" ms, bubble ").append(Html.percent(s.bubble()));
            if (predicted != null) {
                b.append(" (predicted ").append(Html.percent(predicted.bubbleFraction())).append(')');
            }
            b.append("</h3>\n");
            b.append(Gantt.svg("measured", Long.toString(s.step()), "rank", data.devices(), s.bars(), axisMs, colours));
        }

        b.append("<h2>Predicted</h2>\n");
        if (predicted == null) {
            b.append("<p class=\"empty\" data-empty=\"predicted\">No prediction given.</p>\n");
        } else {
            b.append("<h3>One step: ").append(Html.num(predicted.makespan() * 1e3, 3)).append(" ms, bubble ")
                    .append(Html.percent(predicted.bubbleFraction()))
                    .append(" <span class=\"note\">(simulator time units read as seconds)</span></h3>\n");
            b.append(Gantt.svg("predicted", null, "device", predicted.timeline().size(), predictedBars, axisMs, colours));
        }

        bubbleTable(b, measured, predicted);
        stepCharts(b, data.steps());
        b.append("<script>").append(SCRIPT).append("</script>\n</body></html>\n");
        return b.toString();
    }

    /**
     * Writes {@link #html} to {@code file}: to a temporary file in the same folder first, then moved into
     * place atomically where the file system allows, so a reader never sees half a page.
     *
     * @throws IOException if the folder cannot be created or the file written
     */
    public static void write(Path file, TimelineData data) throws IOException {
        if (file == null) {
            throw new IllegalArgumentException("file must not be null");
        }
        String page = html(data);
        AtomicFiles.replace(file, tmp -> Files.writeString(tmp, page, StandardCharsets.UTF_8));
    }

    /**
     * The fraction of device time not spent busy, {@code 1 - busy / (devices * makespan)}; 0 when the
     * makespan is 0. A rank is busy while any of its events other than WAIT runs and no WAIT does: events
     * that overlap (a WAIT inside its RECV, a LOSS inside a B) count once.
     */
    static double measuredBubble(List<ActionEvent> stepEvents, int devices) {
        long origin = Long.MAX_VALUE;
        long end = Long.MIN_VALUE;
        for (ActionEvent e : stepEvents) {
            origin = Math.min(origin, e.startNanos());
            end = Math.max(end, e.endNanos());
        }
        if (stepEvents.isEmpty() || end == origin) {
            return 0;
        }
        double busy = 0;
        for (int r = 0; r < devices; r++) {
            List<long[]> work = new ArrayList<>();
            List<long[]> wait = new ArrayList<>();
            for (ActionEvent e : stepEvents) {
                if (e.rank() == r) {
                    (ActionEvent.WAIT.equals(e.kind()) ? wait : work).add(new long[] {e.startNanos(), e.endNanos()});
                }
            }
            List<long[]> w = union(work);
            busy += length(w) - overlap(w, union(wait));
        }
        return 1 - busy / ((double) devices * (end - origin));
    }

    private static List<MeasuredStep> measuredSteps(List<ActionEvent> events, int devices) {
        Map<Long, List<ActionEvent>> byStep = new TreeMap<>();
        for (ActionEvent e : events) {
            byStep.computeIfAbsent(e.step(), k -> new ArrayList<>()).add(e);
        }
        List<MeasuredStep> out = new ArrayList<>(byStep.size());
        for (Map.Entry<Long, List<ActionEvent>> s : byStep.entrySet()) {
            List<ActionEvent> l = s.getValue();
            long origin = l.stream().mapToLong(ActionEvent::startNanos).min().orElseThrow();
            long end = l.stream().mapToLong(ActionEvent::endNanos).max().orElseThrow();
            List<Gantt.Bar> bars = new ArrayList<>(l.size());
            for (ActionEvent e : l) {
                bars.add(new Gantt.Bar(e.rank(), e.kind(), e.stage(), e.microBatch(),
                        (e.startNanos() - origin) / 1e6, (e.endNanos() - origin) / 1e6));
            }
            out.add(new MeasuredStep(s.getKey(), origin, end - origin, measuredBubble(l, devices), bars));
        }
        return out;
    }

    private static List<Gantt.Bar> predictedBars(SimulationResult predicted) {
        List<Gantt.Bar> bars = new ArrayList<>();
        for (int d = 0; d < predicted.timeline().size(); d++) {
            for (SimulationResult.TimedAction t : predicted.timeline().get(d)) {
                bars.add(new Gantt.Bar(d, t.action().type().code(), t.action().stage(), t.action().microBatch(),
                        t.start() * 1e3, t.end() * 1e3));
            }
        }
        return bars;
    }

    private static List<long[]> union(List<long[]> intervals) {
        intervals.sort(Comparator.comparingLong((long[] i) -> i[0]));
        List<long[]> out = new ArrayList<>();
        for (long[] i : intervals) {
            if (!out.isEmpty() && i[0] <= out.get(out.size() - 1)[1]) {
                long[] last = out.get(out.size() - 1);
                last[1] = Math.max(last[1], i[1]);
            } else {
                out.add(new long[] {i[0], i[1]});
            }
        }
        return out;
    }

    private static long length(List<long[]> disjoint) {
        long n = 0;
        for (long[] i : disjoint) {
            n += i[1] - i[0];
        }
        return n;
    }

    private static long overlap(List<long[]> a, List<long[]> b) {
        long n = 0;
        int i = 0;
        int j = 0;
        while (i < a.size() && j < b.size()) {
            long lo = Math.max(a.get(i)[0], b.get(j)[0]);
            long hi = Math.min(a.get(i)[1], b.get(j)[1]);
            n += Math.max(0, hi - lo);
            if (a.get(i)[1] < b.get(j)[1]) {
                i++;
            } else {
                j++;
            }
        }
        return n;
    }

    private static void facts(StringBuilder b, Map<String, String> facts) {
        if (facts.isEmpty()) {
            return;
        }
        b.append("<table class=\"facts\">\n");
        for (Map.Entry<String, String> f : facts.entrySet()) {
            b.append("<tr><th>").append(Html.escape(f.getKey())).append("</th><td>").append(Html.escape(f.getValue()))
                    .append("</td></tr>\n");
        }
        b.append("</table>\n");
    }

    private static void legend(StringBuilder b, KindColours colours) {
        if (colours.kinds().isEmpty()) {
            return;
        }
        b.append("<div class=\"legend\">");
        for (String k : colours.kinds()) {
            b.append("<span data-legend=\"").append(Html.escape(k)).append("\"><i style=\"background:")
                    .append(colours.of(k)).append("\"></i>").append(Html.escape(k)).append("</span>");
        }
        b.append("<span><i class=\"idle\"></i>idle</span></div>\n");
    }

    private static void bubbleTable(StringBuilder b, List<MeasuredStep> measured, SimulationResult predicted) {
        if (measured.isEmpty()) {
            return;
        }
        b.append("<h2>Bubble</h2>\n<table class=\"bubble\"><tr><th>step</th><th>makespan ms</th><th>measured bubble</th>")
                .append("<th>predicted makespan ms</th><th>predicted bubble</th></tr>\n");
        for (MeasuredStep s : measured) {
            b.append("<tr data-step=\"").append(s.step()).append("\"><td>").append(s.step()).append("</td><td>")
                    .append(Html.num(s.makespanNanos() / 1e6, 3)).append("</td><td>").append(Html.percent(s.bubble()))
                    .append("</td><td>").append(predicted == null ? "n/a" : Html.num(predicted.makespan() * 1e3, 3))
                    .append("</td><td>").append(predicted == null ? "n/a" : Html.percent(predicted.bubbleFraction()))
                    .append("</td></tr>\n");
        }
        b.append("</table>\n");
    }

    private static void stepCharts(StringBuilder b, List<StepPoint> points) {
        b.append("<h2>Per step</h2>\n");
        if (points.isEmpty()) {
            b.append("<p class=\"empty\" data-empty=\"steps\">No steps recorded.</p>\n");
            return;
        }
        List<StepPoint> sorted = new ArrayList<>(points);
        sorted.sort(Comparator.comparingLong(StepPoint::step));
        List<Long> steps = sorted.stream().map(StepPoint::step).toList();
        double[] loss = sorted.stream().mapToDouble(StepPoint::loss).toArray();
        double[] rate = sorted.stream().mapToDouble(StepPoint::samplesPerSecond).toArray();
        b.append("<div class=\"lines\">");
        b.append(StepChart.svg("loss", "loss", steps, loss, 4));
        b.append(StepChart.svg("throughput", "samples/s", steps, rate, 1));
        b.append("</div>\n");
    }

    private static final String CSS = String.join("\n",
            "body{font:13px/1.4 system-ui,sans-serif;margin:16px;color:#222}",
            "h1{font-size:18px}h2{font-size:15px;margin:18px 0 6px}h3{font-size:13px;font-weight:600;margin:10px 0 4px}",
            "table{border-collapse:collapse}th,td{padding:2px 10px;border-bottom:1px solid #eee;text-align:left}",
            ".legend span{display:inline-block;margin:0 12px 4px 0}",
            ".legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-2px;border:1px solid #999}",
            ".legend i.idle{background:#f4f4f4}",
            "svg .bg{fill:#f4f4f4}svg .rl,svg .axis text,svg .tick,svg .cap{font-size:11px;fill:#444}",
            "svg .axis line{stroke:#888}svg .axis text{text-anchor:middle}svg .axis .unit{text-anchor:start}",
            "svg rect[data-kind]{stroke:#fff;stroke-width:.5}svg rect[data-kind=\"WAIT\"]{stroke:#999;stroke-dasharray:2 2}",
            "body.hl svg rect[data-kind]{opacity:.3}body.hl svg rect.on{opacity:1;stroke:#000}",
            ".line .series{fill:none;stroke:#4e79a7;stroke-width:1.5}.line .pt{fill:#4e79a7}",
            ".lines svg{margin-right:16px}.note{font-weight:400;color:#666}.empty{color:#666;font-style:italic}");

    // Reads the DOM only (no data is written into the script): hovering a block highlights the same
    // micro-batch in that chart; the hidden #rendered element records what was drawn, for tests.
    private static final String SCRIPT = String.join("\n",
            "(function(){",
            "var charts=document.querySelectorAll('svg[data-chart=\"measured\"],svg[data-chart=\"predicted\"]');",
            "var measured=[],predicted=[],blocks=0;",
            "charts.forEach(function(c){",
            "  var rows=c.querySelectorAll('g[data-row]').length;",
            "  blocks+=c.querySelectorAll('rect[data-kind]').length;",
            "  (c.getAttribute('data-chart')==='measured'?measured:predicted).push(rows);",
            "  c.addEventListener('mouseover',function(e){",
            "    var mb=e.target.getAttribute&&e.target.getAttribute('data-mb');",
            "    if(mb===null||mb==='-1')return;",
            "    c.querySelectorAll('rect[data-mb=\"'+mb+'\"]').forEach(function(r){r.classList.add('on');});",
            "    document.body.classList.add('hl');",
            "  });",
            "  c.addEventListener('mouseout',function(){",
            "    c.querySelectorAll('rect.on').forEach(function(r){r.classList.remove('on');});",
            "    document.body.classList.remove('hl');",
            "  });",
            "});",
            "var mark=document.createElement('div');",
            "mark.id='rendered';mark.hidden=true;",
            "mark.setAttribute('data-measured-rows',measured.join(','));",
            "mark.setAttribute('data-predicted-rows',predicted.join(','));",
            "mark.setAttribute('data-blocks',String(blocks));",
            "document.body.appendChild(mark);",
            "})();");
}
