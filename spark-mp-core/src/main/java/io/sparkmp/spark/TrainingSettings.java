package io.sparkmp.spark;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The settings of one fit, resolved once on the driver: a value given in code (the trainer's builder, an ML
 * Param, a TrainJob flag) wins over the session's {@code spark.mp.*} key, which wins over the key's default.
 * Every entry point reaches training through this one value, and the job spec is made from it. Immutable.
 *
 * <p>Adding a setting is one local change: declare its {@link ConfEntry} in {@link SparkMpConf} (key, doc, type,
 * check, default) and read it with {@link #get} where it is used; the builder's {@code set}, the conf and the
 * README table ({@link SparkMpConf#describe()}) follow from the declaration.
 */
public final class TrainingSettings {
    private final Map<ConfEntry<?>, Object> inCode;
    private final SparkMpConf conf;

    private TrainingSettings(Map<ConfEntry<?>, Object> inCode, SparkMpConf conf) {
        this.inCode = Collections.unmodifiableMap(new LinkedHashMap<>(inCode));
        this.conf = conf;
    }

    /** Values given in code (each already checked by its entry) over {@code conf}. */
    static TrainingSettings of(Map<ConfEntry<?>, Object> inCode, SparkMpConf conf) {
        return new TrainingSettings(inCode, conf);
    }

    /** The effective value: given in code, else configured, else the entry's default (null: none). */
    public <T> T get(ConfEntry<T> e) {
        T v = given(e);
        return v != null ? v : e.defaultValue();
    }

    /** The value given in code or configured, or null when neither (e.g. left to the planner). */
    @SuppressWarnings("unchecked")
    public <T> T given(ConfEntry<T> e) {
        if (inCode.containsKey(e)) {
            return (T) inCode.get(e);
        }
        return conf.isSet(e) ? conf.get(e) : null;
    }

    /** The session's {@code spark.mp.*} snapshot these settings fall back to. */
    SparkMpConf conf() {
        return conf;
    }

    /** These settings with {@code fixed} given in code too (e.g. the plan's stage count and schedule). */
    TrainingSettings with(Map<ConfEntry<?>, Object> fixed) {
        Map<ConfEntry<?>, Object> m = new LinkedHashMap<>(inCode);
        m.putAll(fixed);
        return new TrainingSettings(m, conf);
    }

    /** Every setting that is given in code or configured, {@code key=value}, secrets masked. */
    @Override
    public String toString() {
        List<String> parts = new ArrayList<>();
        for (ConfEntry<?> e : SparkMpConf.entries()) {
            Object v = given(e);
            if (v != null) {
                parts.add(e.key() + "=" + (e.key().toLowerCase(java.util.Locale.ROOT).contains("password") ? "***" : v));
            }
        }
        return "TrainingSettings" + parts;
    }
}
