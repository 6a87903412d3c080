package io.sparkmp.report;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

import io.sparkmp.runtime.ActionEvent;
import io.sparkmp.schedule.ActionType;

/** One fill colour per action kind: fixed for the known kinds, then a small palette in order for others. */
final class KindColours {

    private static final Map<String, String> KNOWN = new LinkedHashMap<>();
    private static final String[] OTHERS = {"#bab0ac", "#86bcb6", "#d4a6c8", "#9d7660", "#79706e", "#a0cbe8"};

    static {
        KNOWN.put(ActionType.FORWARD.code(), "#4e79a7");
        KNOWN.put(ActionType.BACKWARD.code(), "#59a14f");
        KNOWN.put(ActionType.BACKWARD_INPUT.code(), "#8cd17d");
        KNOWN.put(ActionType.BACKWARD_WEIGHT.code(), "#2e7d32");
        KNOWN.put(ActionType.SEND_F.code(), "#f28e2b");
        KNOWN.put(ActionType.RECV_F.code(), "#ffbe7d");
        KNOWN.put(ActionType.SEND_B.code(), "#e15759");
        KNOWN.put(ActionType.RECV_B.code(), "#ff9d9a");
        KNOWN.put(ActionType.ALLREDUCE.code(), "#b07aa1");
        KNOWN.put(ActionType.STEP.code(), "#76b7b2");
        KNOWN.put(ActionEvent.LOAD, "#edc948");
        KNOWN.put(ActionType.SEND_L.code(), "#b07aa1");
        KNOWN.put(ActionType.RECV_L.code(), "#d4a6c8");
        KNOWN.put(ActionEvent.LOSS, "#9c755f");
        KNOWN.put(ActionEvent.WAIT, "#d9d9d9");
    }

    private final Map<String, String> colours = new LinkedHashMap<>();

    /** Colours for {@code kinds}, listed known kinds first in schedule order, then the rest by name. */
    KindColours(Collection<String> kinds) {
        for (Map.Entry<String, String> e : KNOWN.entrySet()) {
            if (kinds.contains(e.getKey())) {
                colours.put(e.getKey(), e.getValue());
            }
        }
        int next = 0;
        for (String k : new TreeSet<>(kinds)) {
            if (!colours.containsKey(k)) {
                colours.put(k, OTHERS[next++ % OTHERS.length]);
            }
        }
    }

    /** The fill of {@code kind}; a kind not given to the constructor is a bug. */
    String of(String kind) {
        String c = colours.get(kind);
        if (c == null) {
            throw new IllegalStateException("no colour assigned to kind " + kind);
        }
        return c;
    }

    /** The kinds in legend order. */
    List<String> kinds() {
        return new ArrayList<>(colours.keySet());
    }
}
