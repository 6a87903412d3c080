package io.sparkmp.schedule;

import java.util.Locale;

/** The pipeline schedules spark-mp can generate. */
public enum ScheduleKind {
    /** All forwards, then all backwards (GPipe). Keeps M micro-batches in flight. */
    GPIPE("gpipe"),
    /** One-forward-one-backward with flush (PipeDream-Flush / DAPPLE). Keeps at most P - s in flight on stage s. */
    ONE_F_ONE_B("1f1b"),
    /** Interleaved 1F1B (Megatron-LM): v virtual stages per device, placed round-robin. */
    INTERLEAVED_1F1B("interleaved");

    private final String label;

    ScheduleKind(String label) {
        this.label = label;
    }

    /** Name used in configuration and on the command line. */
    public String label() {
        return label;
    }

    /** Parses {@code gpipe}, {@code 1f1b} or {@code interleaved} (case-insensitive). */
    public static ScheduleKind parse(String text) {
        if (text != null) {
            String t = text.trim().toLowerCase(Locale.ROOT);
            for (ScheduleKind k : values()) {
                if (k.label.equals(t) || k.name().toLowerCase(Locale.ROOT).equals(t)) {
                    return k;
                }
            }
        }
        throw new IllegalArgumentException("schedule must be one of gpipe, 1f1b, interleaved, found '" + text + "'");
    }
}
