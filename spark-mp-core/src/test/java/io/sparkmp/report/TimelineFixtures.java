package io.sparkmp.report;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.sparkmp.runtime.ActionEvent;
import io.sparkmp.schedule.ActionCosts;
import io.sparkmp.schedule.Schedule;
import io.sparkmp.schedule.ScheduleKind;
import io.sparkmp.schedule.ScheduleSimulator;
import io.sparkmp.schedule.Schedules;
import io.sparkmp.schedule.SimulationResult;

/** Shared fixtures of the report tests: hand-built timelines and HTML probes. */
final class TimelineFixtures {

    static final long T0 = 1_700_000_000_000_000_000L;
    static final long MS = 1_000_000L;

    private TimelineFixtures() {
    }

    /** An event of {@code step} from {@code fromMs} to {@code toMs} after {@link #T0}. */
    static ActionEvent ev(int rank, long step, int stage, String kind, int mb, double fromMs, double toMs) {
        return new ActionEvent(rank, step, stage, kind, mb, T0 + Math.round(fromMs * MS), T0 + Math.round(toMs * MS));
    }

    /**
     * A 2-stage pipeline over 2 micro-batches, one step: rank 0 loads and forwards, rank 1 waits, receives,
     * forwards, computes the loss and backwards; both step. 13 events: per kind below.
     */
    static List<ActionEvent> twoDeviceStep(long step, double shiftMs) {
        double s = shiftMs;
        List<ActionEvent> l = new ArrayList<>();
        l.add(ev(0, step, -1, ActionEvent.LOAD, 0, s, s + 0.5));
        l.add(ev(0, step, 0, "F", 0, s + 0.5, s + 1.5));
        l.add(ev(0, step, 0, "SEND_F", 0, s + 1.5, s + 1.7));
        l.add(ev(0, step, 0, "F", 1, s + 1.7, s + 2.7));
        l.add(ev(0, step, 0, "SEND_F", 1, s + 2.7, s + 2.9));
        l.add(ev(1, step, 1, ActionEvent.WAIT, -1, s, s + 1.6));
        l.add(ev(1, step, 1, "RECV_F", 0, s + 1.5, s + 1.8));
        l.add(ev(1, step, 1, "F", 0, s + 1.8, s + 2.8));
        l.add(ev(1, step, 1, ActionEvent.LOSS, 0, s + 2.8, s + 2.9));
        l.add(ev(1, step, 1, "B", 0, s + 2.9, s + 4.9));
        l.add(ev(1, step, 1, "SEND_B", 0, s + 4.9, s + 5.0));
        l.add(ev(0, step, 0, "STEP", -1, s + 5.5, s + 5.8));
        l.add(ev(1, step, 1, "STEP", -1, s + 5.0, s + 5.3));
        return l;
    }

    /** The simulator's 1F1B step on {@code devices} devices: F 1 ms, B 2 ms, links 0.1 ms (seconds). */
    static SimulationResult oneFOneB(int devices, int microBatches) {
        Schedule s = Schedules.generate(ScheduleKind.ONE_F_ONE_B, devices, microBatches, 1);
        return ScheduleSimulator.simulate(s, ActionCosts.uniform(1e-3, 2e-3, 1e-4));
    }

    static Map<String, String> facts() {
        Map<String, String> f = new LinkedHashMap<>();
        f.put("schedule", "1f1b");
        f.put("P", "2");
        f.put("M", "2");
        f.put("batch", "32");
        f.put("model", "mlp 784-256-10");
        return f;
    }

    /** The text of the first {@code <svg>} with {@code data-chart="<chart>"} (and step, if not null). */
    static String chart(String html, String chart, String stepOrNull) {
        String open = "data-chart=\"" + chart + "\"" + (stepOrNull == null ? "" : " data-step=\"" + stepOrNull + "\"");
        Matcher m = Pattern.compile("<svg [^>]*" + Pattern.quote(open)).matcher(html);
        if (!m.find()) {
            throw new AssertionError("no <svg> with " + open + " in the page");
        }
        return html.substring(m.start(), html.indexOf("</svg>", m.start()) + "</svg>".length());
    }

    static int count(String text, String regex) {
        Matcher m = Pattern.compile(regex).matcher(text);
        int n = 0;
        while (m.find()) {
            n++;
        }
        return n;
    }

    /** {@code name="..."} attribute values of every element matching {@code regex} in order. */
    static List<String> attributes(String text, String regex, String name) {
        List<String> out = new ArrayList<>();
        Matcher m = Pattern.compile(regex).matcher(text);
        Pattern attr = Pattern.compile("\\b" + Pattern.quote(name) + "=\"([^\"]*)\"");
        while (m.find()) {
            Matcher a = attr.matcher(m.group());
            if (a.find()) {
                out.add(a.group(1));
            }
        }
        return out;
    }
}
