package io.sparkmp.examples;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Long GNU-style flags ({@code --name value} or {@code --name=value}) against a table of {flag, value placeholder,
 * meaning} rows; a row with an empty placeholder is a switch (no value). Parsing rejects unknown flags and flags
 * given twice; the typed getters name the flag and the value on error ("--epochs should be an integer >= 1, but
 * was `x`"). Shared by the command lines of this package.
 */
final class Flags {
    private final Map<String, String> values;
    private final boolean help;

    private Flags(Map<String, String> values, boolean help) {
        this.values = values;
        this.help = help;
    }

    /** @throws IllegalArgumentException for an unknown flag, one given twice, or a missing value */
    static Flags parse(String[] args, String[][] table) {
        Map<String, String> v = new LinkedHashMap<>();
        boolean help = false;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--help") || a.equals("-h")) {
                help = true;
                continue;
            }
            if (!a.startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument `" + a + "` (flags start with --; see --help)");
            }
            int eq = a.indexOf('=');
            String name = eq > 0 ? a.substring(0, eq) : a;
            String value;
            String[] row = row(table, name);
            if (row == null) {
                throw new IllegalArgumentException("unknown flag " + name + " (see --help)");
            }
            if (row[1].isEmpty()) {
                value = "true";
            } else if (eq > 0) {
                value = a.substring(eq + 1);
            } else {
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException(a + " needs a value");
                }
                value = args[++i];
            }
            if (v.put(name, value) != null) {
                throw new IllegalArgumentException(name + " given twice");
            }
        }
        return new Flags(v, help);
    }

    private static String[] row(String[][] table, String name) {
        for (String[] f : table) {
            if (f[0].equals(name)) {
                return f;
            }
        }
        return null;
    }

    /** The --help text: {@code header}, then one line per row of {@code table}. */
    static String usage(String header, String[][] table) {
        StringBuilder sb = new StringBuilder(header);
        for (String[] f : table) {
            sb.append(String.format(Locale.ROOT, "  %-42s %s%n", f[0] + (f[1].isEmpty() ? "" : " " + f[1]), f[2]));
        }
        return sb.toString();
    }

    boolean help() {
        return help;
    }

    boolean has(String flag) {
        return values.containsKey(flag);
    }

    /** The flag's value as given, or null. */
    String get(String flag) {
        return values.get(flag);
    }

    String required(String flag) {
        String s = values.get(flag);
        if (s == null || s.isBlank()) {
            throw new IllegalArgumentException(flag + " is required (see --help)");
        }
        return s;
    }

    /** The flag's integer value, at least {@code min}; {@code def} when not given (null: required). */
    int integer(String flag, Integer def, int min) {
        String s = def == null ? required(flag) : values.get(flag);
        if (s == null) {
            return def;
        }
        try {
            int n = Integer.parseInt(s.trim());
            if (n >= min) {
                return n;
            }
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new IllegalArgumentException(flag + " should be an integer >= " + min + ", but was `" + s + "`");
    }

    /** The flag's value, or null when not given (a spark.mp.* key or the default applies). */
    Integer optionalInteger(String flag, int min) {
        return values.containsKey(flag) ? Integer.valueOf(integer(flag, null, min)) : null;
    }

    /** The flag's value, or null when not given. */
    Long longValue(String flag) {
        String s = values.get(flag);
        if (s == null) {
            return null;
        }
        try {
            return Long.parseLong(s.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(flag + " should be an integer, but was `" + s + "`");
        }
    }

    /** The flag's value, or null when not given. */
    Boolean bool(String flag) {
        String s = values.get(flag);
        if (s == null) {
            return null;
        }
        if (s.equalsIgnoreCase("true") || s.equalsIgnoreCase("false")) {
            return Boolean.parseBoolean(s);
        }
        throw new IllegalArgumentException(flag + " should be true or false, but was `" + s + "`");
    }

    /** Comma-separated layer indices, e.g. {@code 0,2,5}, or null; the trainer checks them against the model. */
    int[] indices(String flag) {
        String s = values.get(flag);
        if (s == null) {
            return null;
        }
        String[] parts = s.split(",", -1);
        int[] out = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                out[i] = Integer.parseInt(parts[i].trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(flag + " should be comma-separated layer indices like 0,2,5, but was `"
                        + s + "`");
            }
        }
        return out;
    }
}
