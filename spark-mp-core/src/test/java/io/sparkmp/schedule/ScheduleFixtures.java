package io.sparkmp.schedule;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Shared test helpers: schedules from text (one line per device) and golden files. */
final class ScheduleFixtures {

    private ScheduleFixtures() {
    }

    /** Per-device action lists from lines of space-separated actions; '#' lines are comments. */
    static List<List<Action>> parseLines(String text) {
        List<List<Action>> lists = new ArrayList<>();
        for (String line : text.split("\n")) {
            String t = line.strip();
            if (t.isEmpty() || t.startsWith("#")) {
                continue;
            }
            lists.add(Arrays.stream(t.split("\\s+")).map(Action::parse).toList());
        }
        return lists;
    }

    /** A schedule of {@code kind} from text. */
    static Schedule schedule(ScheduleKind kind, int stagesPerDevice, int microBatches, String text) {
        List<List<Action>> lists = parseLines(text);
        return new Schedule(kind, lists.size(), stagesPerDevice, microBatches, lists);
    }

    /** The per-device lists of test resource {@code schedules/<name>}. */
    static List<List<Action>> golden(String name) {
        try (InputStream in = ScheduleFixtures.class.getResourceAsStream("/schedules/" + name)) {
            if (in == null) {
                throw new IllegalArgumentException("no test resource schedules/" + name);
            }
            return parseLines(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new IllegalStateException("cannot read schedules/" + name, e);
        }
    }
}
