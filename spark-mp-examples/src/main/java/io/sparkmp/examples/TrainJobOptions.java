package io.sparkmp.examples;

import io.sparkmp.schedule.ScheduleKind;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Command line of {@link TrainJob}: long GNU-style flags ({@code --name value} or {@code --name=value}).
 * Parsing checks types and ranges and names the flag and value on error. Stages, micro-batches, schedule,
 * virtual stages and boundaries are null when not given: the planner chooses them.
 */
record TrainJobOptions(Path model, String initFrom, String train, int labelColumn, int numClasses, Integer batchSize,
                       Integer epochs, Integer stages, Integer microBatches, ScheduleKind schedule, Integer stagesPerDevice,
                       int[] boundaries, Long seed, Boolean shuffle, String output, boolean overwrite, String resumeFrom,
                       String checkpointDir, Integer checkpointEvery, Path timeline, boolean dryRun, boolean help,
                       io.sparkmp.runtime.NonFinitePolicy nonFinite, Integer replicas) {

    /** Flag, value placeholder, meaning; the order of --help. */
    static final String[][] FLAGS = {
            {"--model", "<file>", "DL4J MultiLayerConfiguration JSON of the network (required)"},
            {"--init-from", "<store|zip>", "start from this per-layer store (parameters, updater state, step count; "
                    + "each stage reads only its layers) or DL4J model zip (optional)"},
            {"--train", "<csv file or dir>", "training rows, read with Spark SQL; no header (required)"},
            {"--label-column", "<index>", "0-based index of the label column; all other columns are features (required)"},
            {"--num-classes", "<K>", "K > 0: labels are class indices in [0, K), one-hot encoded; 0: regression (required)"},
            {"--batch-size", "<n>", "examples per mini-batch (default: spark.mp.batchSize, else 32); a last partial mini-batch is dropped"},
            {"--epochs", "<n>", "passes over the data (default: spark.mp.epochs, else 1)"},
            {"--stages", "<P>", "pipeline stages = barrier tasks = executor slots (default: the planner's choice)"},
            {"--replicas", "<R>", "data-parallel replicas of the pipeline: P x R tasks, each replica training batch-size / R "
                    + "examples of every mini-batch (default: spark.mp.replicas, else 1)"},
            {"--micro-batches", "<M>", "micro-batches per mini-batch, must divide the batch size (default: the planner's)"},
            {"--schedule", "gpipe|1f1b|interleaved", "pipeline schedule (default: the planner's, 1f1b or interleaved)"},
            {"--stages-per-device", "<v>", "virtual stages per device, interleaved only (default 2 for interleaved)"},
            {"--boundaries", "<0,b1,..,L>", "manual split: first layer index of each stage, then the layer count "
                    + "(default: the planner's split)"},
            {"--dry-run", "", "print the plan (explain table) and exit without training"},
            {"--seed", "<n>", "seed of initialisation and shuffling (default: spark.mp.seed, else 42)"},
            {"--shuffle", "true|false", "shuffle examples and mini-batch order (default: spark.mp.shuffle, else false: file order)"},
            {"--output", "<dir|URI|zip>", "write the trained model: a per-layer store (a Hadoop URI, or a path on the default file system, "
                    + "written by the stages themselves) or, ending in .zip, one DL4J ModelSerializer zip assembled "
                    + "on the driver (optional)"},
            {"--overwrite", "", "replace an existing store at --output (refused otherwise)"},
            {"--checkpoint-dir", "<dir|URI>", "write checkpoints here (a failed attempt resumes from the newest)"},
            {"--checkpoint-every", "<K>", "a checkpoint every K optimizer steps (default 100; 0: only at the end)"},
            {"--resume-from", "<dir|URI>", "continue a run from a checkpoint directory or store; --epochs is the total"},
            {"--non-finite", "fail|skip", "a step with a NaN/infinite gradient: fail stops training (default), skip "
                    + "leaves that step's update out on every stage and trains on"},
            {"--timeline", "<file.html>", "record the sampled steps' actions and write the timeline report here "
                    + "(optional; sampling from spark.mp.timeline.*)"},
            {"--help", "", "print this help"},
    };

    /** Whether {@code --output} names a DL4J zip (assembled on the driver) rather than a per-layer store. */
    boolean outputIsZip() {
        return output != null && output.toLowerCase(Locale.ROOT).endsWith(".zip");
    }

    /**
     * A store location as given on the command line: a URI, or a path without a scheme, which the trainer resolves
     * against Hadoop's default file system ({@code fs.defaultFS}), as Spark's own writers do (on an embedded local
     * Spark that is the working directory; on a cluster with HDFS, the user's HDFS home). Only one place qualifies
     * a path: the trainer's store set-up.
     */
    static java.net.URI uriOf(String uriOrPath) {
        return new org.apache.hadoop.fs.Path(uriOrPath).toUri();
    }

    static String usage() {
        StringBuilder sb = new StringBuilder("Usage: spark-submit --class io.sparkmp.examples.TrainJob <jar> [flags]\n"
                + "Trains a DL4J network pipeline-parallel on Spark (an embedded local[*] Spark when no master is set).\n\n");
        for (String[] f : FLAGS) {
            sb.append(String.format(Locale.ROOT, "  %-42s %s%n", f[0] + (f[1].isEmpty() ? "" : " " + f[1]), f[2]));
        }
        return sb.toString();
    }

    /**
     * @throws IllegalArgumentException naming the flag and value, e.g. "--epochs should be an integer >= 1, but was `x`"
     */
    static TrainJobOptions parse(String[] args) {
        Map<String, String> v = new LinkedHashMap<>();
        boolean help = false;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--help") || a.equals("-h")) {
                help = true;
                continue;
            }
            if (a.equals("--dry-run") || a.equals("--overwrite")) {
                if (v.put(a, "true") != null) {
                    throw new IllegalArgumentException(a + " given twice");
                }
                continue;
            }
            if (!a.startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument `" + a + "` (flags start with --; see --help)");
            }
            String name = a;
            String value;
            int eq = a.indexOf('=');
            if (eq > 0) {
                name = a.substring(0, eq);
                value = a.substring(eq + 1);
            } else {
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException(a + " needs a value");
                }
                value = args[++i];
            }
            if (!known(name)) {
                throw new IllegalArgumentException("unknown flag " + name + " (see --help)");
            }
            if (v.put(name, value) != null) {
                throw new IllegalArgumentException(name + " given twice");
            }
        }
        if (help) {
            return new TrainJobOptions(null, null, null, 0, 0, null, null, null, null, null, null, null, null, null, null,
                    false, null, null, null, null, false, true, null, null);
        }
        ScheduleKind schedule = null;
        if (v.containsKey("--schedule")) {
            try {
                schedule = ScheduleKind.parse(v.get("--schedule"));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--schedule should be gpipe, 1f1b or interleaved, but was `"
                        + v.get("--schedule") + "`");
            }
        }
        return new TrainJobOptions(
                Paths.get(required(v, "--model")),
                v.get("--init-from"),
                required(v, "--train"),
                integer(v, "--label-column", null, 0),
                integer(v, "--num-classes", null, 0),
                optionalInteger(v, "--batch-size", 1),
                optionalInteger(v, "--epochs", 1),
                optionalInteger(v, "--stages", 1),
                optionalInteger(v, "--micro-batches", 1),
                schedule,
                optionalInteger(v, "--stages-per-device", 1),
                indices(v, "--boundaries"),
                longValue(v, "--seed"),
                bool(v, "--shuffle"),
                v.get("--output"),
                v.containsKey("--overwrite"),
                v.get("--resume-from"),
                v.get("--checkpoint-dir"),
                optionalInteger(v, "--checkpoint-every", 0),
                v.containsKey("--timeline") ? Paths.get(v.get("--timeline")) : null,
                v.containsKey("--dry-run"),
                false,
                nonFinite(v),
                optionalInteger(v, "--replicas", 1));
    }

    private static io.sparkmp.runtime.NonFinitePolicy nonFinite(Map<String, String> v) {
        String s = v.get("--non-finite");
        if (s == null) {
            return null;
        }
        try {
            return io.sparkmp.runtime.NonFinitePolicy.parse(s);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--non-finite should be fail or skip, but was `" + s + "`");
        }
    }

    private static boolean known(String name) {
        for (String[] f : FLAGS) {
            if (f[0].equals(name)) {
                return true;
            }
        }
        return false;
    }

    private static String required(Map<String, String> v, String flag) {
        String s = v.get(flag);
        if (s == null || s.isBlank()) {
            throw new IllegalArgumentException(flag + " is required (see --help)");
        }
        return s;
    }

    private static int integer(Map<String, String> v, String flag, Integer def, int min) {
        String s = def == null ? required(v, flag) : v.get(flag);
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

    private static Integer optionalInteger(Map<String, String> v, String flag, int min) {
        return v.containsKey(flag) ? Integer.valueOf(integer(v, flag, null, min)) : null;
    }

    /** Comma-separated layer indices, e.g. {@code 0,2,5}; the trainer checks them against the model. */
    private static int[] indices(Map<String, String> v, String flag) {
        String s = v.get(flag);
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

    /** The flag's value, or null when not given (the spark.mp.* key or its default applies). */
    private static Long longValue(Map<String, String> v, String flag) {
        String s = v.get(flag);
        if (s == null) {
            return null;
        }
        try {
            return Long.parseLong(s.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(flag + " should be an integer, but was `" + s + "`");
        }
    }

    /** The flag's value, or null when not given (the spark.mp.* key or its default applies). */
    private static Boolean bool(Map<String, String> v, String flag) {
        String s = v.get(flag);
        if (s == null) {
            return null;
        }
        if (s.equalsIgnoreCase("true") || s.equalsIgnoreCase("false")) {
            return Boolean.parseBoolean(s);
        }
        throw new IllegalArgumentException(flag + " should be true or false, but was `" + s + "`");
    }
}
