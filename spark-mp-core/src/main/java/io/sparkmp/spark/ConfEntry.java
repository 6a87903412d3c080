package io.sparkmp.spark;

import java.util.Objects;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * One {@code spark.mp.*} setting: its key, meaning, type, check and default, declared once in
 * {@link SparkMpConf}. Parsing and checking report the key and the offending text, e.g.
 * "{@code `spark.mp.microBatches` should be int, but was `x`}".
 *
 * @param <T> the value type
 */
public final class ConfEntry<T> {
    private final String key;
    private final String doc;
    private final String typeName;
    private final Function<String, T> parser;
    private final Predicate<T> check;
    private final String checkDoc;
    private final T defaultValue;
    private final String defaultText;
    /** The word that leaves the value to the planner (e.g. {@code auto}), or null when there is none. */
    private final String plannerWord;

    ConfEntry(String key, String doc, String typeName, Function<String, T> parser, Predicate<T> check,
              String checkDoc, T defaultValue, String defaultText) {
        this(key, doc, typeName, parser, check, checkDoc, defaultValue, defaultText, null);
    }

    /** As the other constructor; {@code plannerWord} (non-null) configured means the same as unset: the planner chooses. */
    ConfEntry(String key, String doc, String typeName, Function<String, T> parser, Predicate<T> check,
              String checkDoc, T defaultValue, String defaultText, String plannerWord) {
        this.plannerWord = plannerWord;
        this.key = Objects.requireNonNull(key);
        this.doc = Objects.requireNonNull(doc);
        this.typeName = Objects.requireNonNull(typeName);
        this.parser = Objects.requireNonNull(parser);
        this.check = Objects.requireNonNull(check);
        this.checkDoc = Objects.requireNonNull(checkDoc);
        this.defaultValue = defaultValue;
        this.defaultText = defaultText;
    }

    /** The full key, e.g. {@code spark.mp.microBatches}. */
    public String key() {
        return key;
    }

    /** What the setting means. */
    public String doc() {
        return doc;
    }

    /** Type name used in messages ({@code int}, {@code boolean}, {@code duration}, ...). */
    public String typeName() {
        return typeName;
    }

    /** The rule a value must satisfy, in words ("" when any value of the type is allowed). */
    public String checkDoc() {
        return checkDoc;
    }

    /** The default, or null when the setting has none (optional). */
    public T defaultValue() {
        return defaultValue;
    }

    /** The default as written in configuration, or "(none)". */
    public String defaultText() {
        return defaultText == null ? "(none)" : defaultText;
    }

    /** The word that leaves this setting to the planner ({@code auto}), or null when it has none. */
    public String plannerWord() {
        return plannerWord;
    }

    /**
     * Parses and checks a configured text; the {@link #plannerWord()} parses to null (the planner chooses).
     *
     * @throws IllegalArgumentException naming the key and the text when it is not of the type or fails the check
     */
    public T parse(String text) {
        if (plannerWord != null && plannerWord.equalsIgnoreCase(text.trim())) {
            return null;
        }
        T value;
        try {
            value = parser.apply(text.trim());
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("`" + key + "` should be " + typeName + ", but was `" + text + "`");
        }
        return validate(value);
    }

    /**
     * Checks a value given in code (e.g. from a builder).
     *
     * @throws IllegalArgumentException naming the key and the value when it fails the check
     */
    public T validate(T value) {
        if (value == null) {
            throw new IllegalArgumentException("`" + key + "` must not be null");
        }
        if (!check.test(value)) {
            throw new IllegalArgumentException("`" + key + "` " + checkDoc + ", but was `" + value + "`");
        }
        return value;
    }

    @Override
    public String toString() {
        return key + " (" + typeName + ", default " + defaultText() + ")";
    }
}
