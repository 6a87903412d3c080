package io.sparkmp.report;

import static io.sparkmp.report.TimelineFixtures.facts;
import static io.sparkmp.report.TimelineFixtures.oneFOneB;
import static io.sparkmp.report.TimelineFixtures.twoDeviceStep;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.sparkmp.report.TimelineReport.StepPoint;
import io.sparkmp.report.TimelineReport.TimelineData;
import io.sparkmp.schedule.SimulationResult;

/**
 * Opens a written report in headless Chromium: the page's script must run without console errors and
 * find one measured and one predicted row per device. The script leaves a hidden {@code #rendered}
 * element with what it counted, which {@code --dump-dom} brings back.
 */
class TimelineBrowserTest {

    private static final Pattern RENDERED = Pattern.compile("<div[^>]*\\bid=\"rendered\"[^>]*>");

    @Test
    void reportRendersOneRowPerDeviceWithoutConsoleErrors(@TempDir Path dir) throws Exception {
        SimulationResult predicted = oneFOneB(2, 4);
        List<StepPoint> steps = List.of(new StepPoint(0, 2.3, 900, 0.035), new StepPoint(1, Double.NaN, 950, 0.034),
                new StepPoint(2, 1.9, 1000, 0.032));
        Path page = dir.resolve("timeline.html");
        TimelineReport.write(page, new TimelineData("1F1B <P=2>", 2, twoDeviceStep(0, 0), predicted, steps, facts()));

        HeadlessChromium.Load load = HeadlessChromium.load(page, dir);

        assertEquals(List.of(), load.consoleLines(), "console messages from the report page");
        Matcher m = RENDERED.matcher(load.dom());
        assertTrue(m.find(), "the page's script did not run: no #rendered element in the DOM; stderr:\n" + load.stderr());
        String marker = m.group();
        assertEquals("2", attribute(marker, "data-measured-rows"), marker);
        assertEquals("2", attribute(marker, "data-predicted-rows"), marker);
        int predictedActions = predicted.timeline().stream().mapToInt(List::size).sum();
        assertEquals(String.valueOf(13 + predictedActions), attribute(marker, "data-blocks"), marker);
    }

    /** The console check above would pass vacuously if Chromium stopped logging console output. */
    @Test
    void consoleErrorsOfAPageAreSeen(@TempDir Path dir) throws Exception {
        Path page = dir.resolve("broken.html");
        Files.writeString(page, "<!DOCTYPE html><html><body><script>console.error('deliberate');"
                + "document.body.appendChild(document.createElement('p')).id='ran';notDefined();</script></body></html>");

        HeadlessChromium.Load load = HeadlessChromium.load(page, dir);

        assertTrue(load.dom().contains("<p id=\"ran\">"), load.dom());
        assertEquals(2, load.consoleLines().size(), String.join("\n", load.consoleLines()));
        assertTrue(load.consoleLines().get(0).contains("deliberate"), load.consoleLines().get(0));
        assertTrue(load.consoleLines().get(1).contains("Uncaught ReferenceError"), load.consoleLines().get(1));
    }

    private static String attribute(String tag, String name) {
        Matcher m = Pattern.compile("\\b" + Pattern.quote(name) + "=\"([^\"]*)\"").matcher(tag);
        return m.find() ? m.group(1) : null;
    }
}
