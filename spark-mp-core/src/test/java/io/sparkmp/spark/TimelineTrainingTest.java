package io.sparkmp.spark;

import io.sparkmp.report.HeadlessChromium;
import io.sparkmp.runtime.ActionEvent;
import io.sparkmp.schedule.ScheduleKind;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.dataset.DataSet;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A real two-stage training run (local[2] Spark, socket channel) with {@code spark.mp.timeline.path} set: the
 * driver writes a report with one measured row per stage for each sampled step and one predicted row per
 * stage, the events of every rank come back in a plausible order, and the page renders in headless Chromium
 * without console errors.
 */
class TimelineTrainingTest {

    private static final Pattern CHART = Pattern.compile("<svg[^>]*data-chart=\"(measured|predicted)\"[^>]*>(.*?)</svg>",
            Pattern.DOTALL);
    private static final Pattern ROW = Pattern.compile("<g data-row=\"rank-(\\d+)\"[^>]*>(.*?)</g>", Pattern.DOTALL);
    private static final Pattern RECT = Pattern.compile("<rect data-kind=\"([^\"]+)\" data-mb=\"(-?\\d+)\" x=\"([0-9.]+)\"");

    @TempDir
    static Path dir;
    private static SparkSession spark;
    private static JavaSparkContext jsc;

    @BeforeAll
    static void start() {
        spark = SparkSession.builder().master("local[2]").appName("TimelineTrainingTest")
                .config("spark.ui.enabled", "false")
                .config("spark.mp.slotWaitTimeout", "2s")
                .config("spark.mp.transport.ioTimeout", "60s")
                .config("spark.mp.timeline.path", dir.resolve("timeline.html").toString())
                .config("spark.mp.timeline.steps", "2")
                .config("spark.mp.timeline.every", "0")
                .getOrCreate();
        jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    @Test
    void aTrainingRunWritesATimelineWithARowPerStageThatRendersInChromium() throws Exception {
        int microBatches = 4;
        JavaRDD<DataSet> data = PlannedTrainingTest.data(64, jsc);
        TrainingResult r = PipelineTrainer.builder(PlannedTrainingTest.model(32)).stages(2).microBatches(microBatches)
                .schedule(ScheduleKind.ONE_F_ONE_B).batchSize(16).logEvery(0).profile(ProfileMode.ANALYTIC).build()
                .fit(data);

        // Steps 1 and 2 (step 0 is warm-up, step 3 is past spark.mp.timeline.steps), on both ranks.
        List<ActionEvent> events = r.timeline().events();
        assertEquals(0, r.timeline().dropped());
        TreeSet<String> rankSteps = new TreeSet<>();
        events.forEach(e -> rankSteps.add(e.rank() + "@" + e.step()));
        assertEquals(List.of("0@1", "0@2", "1@1", "1@2"), new ArrayList<>(rankSteps));
        assertForwardThenBackwardPerMicroBatch(events, microBatches);

        Path page = dir.resolve("timeline.html");
        assertTrue(Files.isRegularFile(page), "no report at " + page);
        String html = Files.readString(page, StandardCharsets.UTF_8);
        List<String> measured = new ArrayList<>();
        List<String> predicted = new ArrayList<>();
        Matcher chart = CHART.matcher(html);
        while (chart.find()) {
            (chart.group(1).equals("measured") ? measured : predicted).add(chart.group(2));
        }
        assertEquals(2, measured.size(), "one measured chart per sampled step");
        assertEquals(1, predicted.size(), "the plan's predicted step");
        for (String c : measured) {
            Map<Integer, String> rows = rows(c);
            assertEquals(List.of(0, 1), new ArrayList<>(rows.keySet()), "one measured row per stage");
            for (String row : rows.values()) {
                assertDrawnForwardBeforeBackward(row, microBatches);
            }
        }
        Map<Integer, String> predictedRows = rows(predicted.get(0));
        assertEquals(List.of(0, 1), new ArrayList<>(predictedRows.keySet()), "one predicted row per stage");
        for (String row : predictedRows.values()) {
            assertDrawnForwardBeforeBackward(row, microBatches);
        }

        HeadlessChromium.Load load = HeadlessChromium.load(page, dir);
        assertEquals(List.of(), load.consoleLines(), "console messages of the report page");
        Matcher m = Pattern.compile("<div[^>]*\\bid=\"rendered\"[^>]*>").matcher(load.dom());
        assertTrue(m.find(), "the page's script did not run; stderr:\n" + load.stderr());
        assertTrue(m.group().contains("data-measured-rows=\"2,2\""), m.group());
        assertTrue(m.group().contains("data-predicted-rows=\"2\""), m.group());
    }

    /** Every rank's events of one step: each micro-batch's F ends before its B starts, on the same stage. */
    private static void assertForwardThenBackwardPerMicroBatch(List<ActionEvent> events, int microBatches) {
        Map<String, ActionEvent> forwards = new HashMap<>();
        int backwards = 0;
        for (ActionEvent e : events) {
            String key = e.rank() + "/" + e.step() + "/" + e.stage() + "/" + e.microBatch();
            if (e.kind().equals("F")) {
                forwards.put(key, e);
            } else if (e.kind().equals("B")) {
                ActionEvent f = forwards.get(key);
                assertTrue(f != null && f.endNanos() <= e.startNanos(), "B without an earlier F: " + e + " / " + f);
                backwards++;
            }
        }
        assertEquals(2 * 2 * microBatches, backwards, "a B per micro-batch, stage and sampled step");
        assertEquals(2 * 2 * microBatches, forwards.size());
    }

    private static Map<Integer, String> rows(String chart) {
        Map<Integer, String> rows = new java.util.TreeMap<>();
        Matcher m = ROW.matcher(chart);
        while (m.find()) {
            rows.put(Integer.parseInt(m.group(1)), m.group(2));
        }
        return rows;
    }

    /**
     * In a chart row (one stage), the block of each micro-batch's F starts no later than its B: at the same
     * pixel when the F takes microseconds (the last stage's F of a small layer; analytic predicted times).
     */
    private static void assertDrawnForwardBeforeBackward(String row, int microBatches) {
        Map<Integer, Double> f = new HashMap<>();
        Map<Integer, Double> b = new HashMap<>();
        Matcher m = RECT.matcher(row);
        while (m.find()) {
            int mb = Integer.parseInt(m.group(2));
            double x = Double.parseDouble(m.group(3));
            if (m.group(1).equals("F")) {
                f.merge(mb, x, Math::min);
            } else if (m.group(1).equals("B")) {
                b.merge(mb, x, Math::max);
            }
        }
        assertEquals(microBatches, f.size(), row);
        assertEquals(f.keySet(), b.keySet());
        for (int mb : f.keySet()) {
            assertTrue(f.get(mb) <= b.get(mb), "micro-batch " + mb + ": F at x=" + f.get(mb) + ", B at x=" + b.get(mb));
        }
        assertFalse(row.contains("NaN"), row);
    }
}
