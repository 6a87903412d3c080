package io.sparkmp.report;

import static io.sparkmp.report.TimelineFixtures.attributes;
import static io.sparkmp.report.TimelineFixtures.chart;
import static io.sparkmp.report.TimelineFixtures.count;
import static io.sparkmp.report.TimelineFixtures.ev;
import static io.sparkmp.report.TimelineFixtures.facts;
import static io.sparkmp.report.TimelineFixtures.oneFOneB;
import static io.sparkmp.report.TimelineFixtures.twoDeviceStep;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.sparkmp.report.TimelineReport.StepPoint;
import io.sparkmp.report.TimelineReport.TimelineData;
import io.sparkmp.runtime.ActionEvent;
import io.sparkmp.schedule.SimulationResult;

class TimelineReportTest {

    private static TimelineData data(List<ActionEvent> events, SimulationResult predicted, List<StepPoint> steps) {
        return new TimelineData("1F1B on 2 devices", 2, events, predicted, steps, facts());
    }

    @Test
    void measuredChartHasOneRowPerRankAndOneBlockPerEvent() {
        String html = TimelineReport.html(data(twoDeviceStep(7, 0), null, List.of()));
        String measured = chart(html, "measured", "7");
        assertEquals(List.of("rank-0", "rank-1"), attributes(measured, "<g data-row=\"[^\"]*\"", "data-row"));
        Map<String, Integer> expected = new LinkedHashMap<>();
        expected.put("LOAD", 1);
        expected.put("F", 3);
        expected.put("SEND_F", 2);
        expected.put("WAIT", 1);
        expected.put("RECV_F", 1);
        expected.put("LOSS", 1);
        expected.put("B", 1);
        expected.put("SEND_B", 1);
        expected.put("STEP", 2);
        expected.forEach((kind, n) -> assertEquals(n, count(measured, "<rect data-kind=\"" + kind + "\""), kind));
        assertEquals(13, count(measured, "<rect data-kind="));
        // One legend entry per kind drawn (plus idle), known kinds in schedule order.
        assertEquals(List.of("F", "B", "SEND_F", "RECV_F", "SEND_B", "STEP", "LOAD", "LOSS", "WAIT"),
                attributes(html, "<span data-legend=\"[^\"]*\"", "data-legend"));
    }

    @Test
    void blocksAreInMillisecondsFromTheStepsEarliestEventWithHoverTitles() {
        String measured = chart(TimelineReport.html(data(twoDeviceStep(3, 40), null, List.of())), "measured", "3");
        // Rank 1's B of micro-batch 0 runs 2.9 .. 4.9 ms after the step began (the 40 ms shift is gone).
        assertTrue(measured.contains("<title>B stage 1 micro-batch 0: 2.000 ms (at 2.900 ms)</title>"), measured);
        assertTrue(measured.contains("<title>STEP stage 0: 0.300 ms (at 5.500 ms)</title>"), measured);
        assertTrue(measured.contains("<title>LOAD micro-batch 0: 0.500 ms (at 0.000 ms)</title>"), measured);
        // The axis spans the longest chart: 5.8 ms at 900 px; the LOAD block starts at the plot's left edge.
        List<String> x = attributes(measured, "<rect data-kind=\"LOAD\"[^>]*>", "x");
        assertEquals(List.of(Html.px(Gantt.LABEL_WIDTH)), x);
        List<String> w = attributes(measured, "<rect data-kind=\"B\"[^>]*>", "width");
        assertEquals(List.of(Html.px(2.0 * Gantt.PLOT_WIDTH / 5.8)), w);
    }

    @Test
    void measuredBubbleCountsOverlapsOnceAndWaitNotAtAll() {
        // rank 0 busy 3.2 ms, rank 1 busy 3.8 - 0.1 (the WAIT overlaps its RECV by 0.1) over 5.8 ms.
        double bubble = TimelineReport.measuredBubble(twoDeviceStep(0, 0), 2);
        assertEquals(1 - 6.9 / (2 * 5.8), bubble, 1e-9);
        String html = TimelineReport.html(data(twoDeviceStep(0, 0), oneFOneB(2, 2), List.of()));
        assertTrue(html.contains("<h3>Step 0: 5.800 ms, bubble 40.5% (predicted "), html);
        assertTrue(html.contains("<tr data-step=\"0\"><td>0</td><td>5.800</td><td>40.5%</td>"), html);
        assertEquals(0, TimelineReport.measuredBubble(List.of(ev(0, 0, 0, "F", 0, 1, 1)), 1));
        assertEquals(0.5, TimelineReport.measuredBubble(List.of(ev(0, 0, 0, "F", 0, 0, 2)), 2), 1e-12);
    }

    @Test
    void predictedChartHasOneRowPerDeviceAtTheSameScale() {
        SimulationResult predicted = oneFOneB(2, 2);
        String html = TimelineReport.html(data(twoDeviceStep(0, 0), predicted, List.of()));
        String p = chart(html, "predicted", null);
        assertEquals(List.of("rank-0", "rank-1"), attributes(p, "<g data-row=\"[^\"]*\"", "data-row"));
        int actions = predicted.timeline().stream().mapToInt(List::size).sum();
        assertEquals(actions, count(p, "<rect data-kind="));
        assertEquals(4, count(p, "<rect data-kind=\"F\""));
        assertEquals(4, count(p, "<rect data-kind=\"B\""));
        assertEquals(2, count(p, "<rect data-kind=\"STEP\""));
        // A 1 ms forward is as wide in the measured chart as in the predicted one (seconds read as ms * 1e3).
        String m = chart(html, "measured", "0");
        String measuredF = attributes(m, "<rect data-kind=\"F\"[^>]*>", "width").get(0);
        assertEquals(measuredF, attributes(p, "<rect data-kind=\"F\"[^>]*>", "width").get(0));
        assertTrue(html.contains("bubble " + Html.percent(predicted.bubbleFraction())));
    }

    @Test
    void oneChartPerSampledStepInStepOrder() {
        List<ActionEvent> events = new ArrayList<>(twoDeviceStep(10, 100));
        events.addAll(twoDeviceStep(0, 0));
        events.addAll(twoDeviceStep(1, 7));
        String html = TimelineReport.html(data(events, null, List.of()));
        assertEquals(List.of("0", "1", "10"), attributes(html, "<svg [^>]*data-chart=\"measured\"[^>]*>", "data-step"));
        assertEquals(6, count(html, "<g data-row="));
    }

    @Test
    void titlesFactsAndKindsAreEscaped() {
        Map<String, String> facts = new LinkedHashMap<>();
        facts.put("model <b>", "\"quoted\" & 'single'");
        List<ActionEvent> events = List.of(ev(0, 0, 0, "<img src=x>", 0, 0, 1));
        String html = TimelineReport.html(new TimelineData("<script>alert(1)</script>", 1, events, null, List.of(), facts));
        assertFalse(html.contains("<script>alert"), "raw title in the page");
        assertTrue(html.contains("<title>&lt;script&gt;alert(1)&lt;/script&gt;</title>"));
        assertTrue(html.contains("<h1>&lt;script&gt;alert(1)&lt;/script&gt;</h1>"));
        assertTrue(html.contains("<th>model &lt;b&gt;</th><td>&quot;quoted&quot; &amp; &#39;single&#39;</td>"), html);
        assertFalse(html.contains("<img"));
        assertTrue(html.contains("data-kind=\"&lt;img src=x&gt;\""));
        assertEquals(1, count(html, "<script>"), "only the page's own script");
    }

    @Test
    void nanLossesLeaveGapsAndNoNanReachesThePage() {
        List<StepPoint> steps = List.of(new StepPoint(0, 2.0, 100, 0.5), new StepPoint(1, Double.NaN, 110, 0.45),
                new StepPoint(2, 1.0, Double.NaN, Double.NaN), new StepPoint(3, 0.5, 120, 0.4));
        String html = TimelineReport.html(data(twoDeviceStep(0, 0), null, steps));
        String loss = chart(html, "loss", null);
        String d = attributes(loss, "<path [^>]*>", "d").get(0);
        // Two segments: step 0 alone, then steps 2..3.
        assertEquals(2, count(d, "M"), d);
        assertEquals(1, count(d, "L"), d);
        assertEquals(3, count(loss, "<circle "));
        String rate = chart(html, "throughput", null);
        assertEquals(3, count(rate, "<circle "));
        assertFalse(html.contains("NaN"), "NaN in the page");
        assertFalse(html.contains("Infinity"), "Infinity in the page");
    }

    @Test
    void allNanLossesSayNoValues() {
        List<StepPoint> steps = List.of(new StepPoint(0, Double.NaN, 10, 1), new StepPoint(1, Double.NaN, 12, 1));
        String loss = chart(TimelineReport.html(data(List.of(), null, steps)), "loss", null);
        assertTrue(loss.contains("data-empty=\"loss\""), loss);
        assertEquals(0, count(loss, "<circle "));
    }

    @Test
    void oneStepOnlyDrawsOnePointInTheMiddle() {
        String html = TimelineReport.html(data(twoDeviceStep(0, 0), null, List.of(new StepPoint(4, 0.7, 50, 0.2))));
        String loss = chart(html, "loss", null);
        assertEquals(1, count(loss, "<circle "));
        assertTrue(loss.contains("<title>step 4: 0.7000</title>"), loss);
        assertFalse(html.contains("NaN"));
    }

    @Test
    void noEventsSaysSoAndStillDrawsThePrediction() {
        String html = TimelineReport.html(data(List.of(), oneFOneB(2, 2), List.of()));
        assertTrue(html.contains("data-empty=\"measured\""));
        assertEquals(0, count(html, "<svg [^>]*data-chart=\"measured\""));
        assertEquals(1, count(html, "<svg [^>]*data-chart=\"predicted\""));
        assertTrue(html.contains("data-empty=\"steps\""));
        String none = TimelineReport.html(data(List.of(), null, List.of()));
        assertTrue(none.contains("data-empty=\"predicted\""));
        assertEquals(0, count(none, "<rect data-kind="));
    }

    @Test
    void rejectsAnEventOfARankBeyondTheDevices() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new TimelineData("t", 1, List.of(ev(1, 0, 0, "F", 0, 0, 1)), null, List.of(), Map.of()));
        assertTrue(e.getMessage().startsWith("event rank (1) must be below devices (1)"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new TimelineData("t", 0, List.of(), null, List.of(), Map.of()));
        assertThrows(IllegalArgumentException.class, () -> new TimelineData(null, 1, List.of(), null, List.of(), Map.of()));
    }

    @Test
    void writeReplacesTheFileAndLeavesNoTemporaryFile(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("reports").resolve("timeline.html");
        TimelineReport.write(file, data(twoDeviceStep(0, 0), null, List.of()));
        TimelineReport.write(file, data(twoDeviceStep(1, 0), null, List.of()));
        assertTrue(Files.readString(file).contains("data-step=\"1\""));
        try (Stream<Path> files = Files.list(file.getParent())) {
            assertEquals(List.of(file), files.toList());
        }
    }
}
