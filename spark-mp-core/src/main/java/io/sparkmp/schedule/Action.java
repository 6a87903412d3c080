package io.sparkmp.schedule;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One instruction of a pipeline schedule: (stage, type, micro-batch). {@code stage} is the pipeline
 * (virtual) stage index, not the device; for {@link ActionType#STEP}, {@link ActionType#ALLREDUCE} and
 * {@link ActionType#LOSS} the micro-batch is {@link #NO_MICRO_BATCH}.
 *
 * <p>Text form: {@code <stage><code>[<microBatch>]}, e.g. {@code 1F3}, {@code 0SEND_F2}, {@code 2STEP}.
 * {@link #parse(String)} reads back what {@link #toString()} writes.
 */
@io.sparkmp.Internal
public record Action(int stage, ActionType type, int microBatch) {

    /** Micro-batch value for actions that apply to the whole mini-batch. */
    public static final int NO_MICRO_BATCH = -1;

    private static final Pattern FORM = Pattern.compile("(\\d+)([A-Z_]+?)(\\d*)");

    public Action {
        if (stage < 0) {
            throw new IllegalArgumentException("stage must be >= 0, found " + stage);
        }
        if (type == null) {
            throw new IllegalArgumentException("type must not be null");
        }
        if (type.perMicroBatch() && microBatch < 0) {
            throw new IllegalArgumentException(type + " needs a micro-batch >= 0, found " + microBatch);
        }
        if (!type.perMicroBatch() && microBatch != NO_MICRO_BATCH) {
            throw new IllegalArgumentException(type + " takes no micro-batch, found " + microBatch);
        }
    }

    /** A per-micro-batch action. */
    public static Action of(int stage, ActionType type, int microBatch) {
        return new Action(stage, type, microBatch);
    }

    /** A whole-mini-batch action (STEP, ALLREDUCE, LOSS). */
    public static Action of(int stage, ActionType type) {
        return new Action(stage, type, NO_MICRO_BATCH);
    }

    /** Parses the compact form written by {@link #toString()}. */
    public static Action parse(String text) {
        if (text == null) {
            throw new IllegalArgumentException("action text must not be null");
        }
        Matcher m = FORM.matcher(text.trim());
        if (!m.matches()) {
            throw new IllegalArgumentException("not an action: '" + text + "' (expected e.g. 1F3, 0SEND_F2, 2STEP)");
        }
        int stage = Integer.parseInt(m.group(1));
        String code = m.group(2);
        for (ActionType t : ActionType.values()) {
            if (t.code().equals(code)) {
                if (t.perMicroBatch()) {
                    if (m.group(3).isEmpty()) {
                        throw new IllegalArgumentException("action '" + text + "' needs a micro-batch index");
                    }
                    return new Action(stage, t, Integer.parseInt(m.group(3)));
                }
                if (!m.group(3).isEmpty()) {
                    throw new IllegalArgumentException("action '" + text + "' takes no micro-batch index");
                }
                return new Action(stage, t, NO_MICRO_BATCH);
            }
        }
        throw new IllegalArgumentException("unknown action type '" + code + "' in '" + text + "'");
    }

    @Override
    public String toString() {
        return type.perMicroBatch() ? stage + type.code() + microBatch : stage + type.code();
    }
}
