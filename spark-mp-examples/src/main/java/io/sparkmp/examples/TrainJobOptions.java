package io.sparkmp.examples;

import io.sparkmp.schedule.ScheduleKind;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Locale;

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
            {"--model", "<file>", "DL4J MultiLayerConfiguration JSON of the network, or a ComputationGraphConfiguration JSON of one input and one output (detected from the file; required)"},
            {"--init-from", "<store|zip>", "start from this per-layer store (parameters, updater state, step count; "
                    + "each stage reads only its layers) or DL4J model zip (optional)"},
            {"--train", "<csv file or dir>", "training rows, read with Spark SQL; no header (required)"},
            {"--label-column", "<index>", "0-based index of the label column; all other columns are features (required)"},
            {"--num-classes", "<K>", "K > 0: labels are class indices in [0, K), one-hot encoded; 0: regression (required)"},
            {"--batch-size", "<n>", "examples per mini-batch (default: spark.mp.batchSize, else 32); a last partial mini-batch is dropped"},
            {"--epochs", "<n>", "passes over the data (default: spark.mp.epochs, else 1)"},
            {"--stages", "<P>", "pipeline stages = barrier tasks = executor slots (default: the planner's choice)"},
            {"--replicas", "<R|auto>", "data-parallel replicas of the pipeline: P x R tasks, each replica training batch-size / R "
                    + "examples of every mini-batch; auto: the planner chooses P and R from the executor slots "
                    + "(default: spark.mp.replicas, else auto)"},
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
        return Flags.usage("Usage: spark-submit --class io.sparkmp.examples.TrainJob <jar> [flags]\n"
                + "Trains a DL4J network pipeline-parallel on Spark (an embedded local[*] Spark when no master is set).\n\n",
                FLAGS);
    }

    /**
     * @throws IllegalArgumentException naming the flag and value, e.g. "--epochs should be an integer >= 1, but was `x`"
     */
    static TrainJobOptions parse(String[] args) {
        Flags v = Flags.parse(args, FLAGS);
        if (v.help()) {
            return new TrainJobOptions(null, null, null, 0, 0, null, null, null, null, null, null, null, null, null, null,
                    false, null, null, null, null, false, true, null, null);
        }
        ScheduleKind schedule = null;
        if (v.has("--schedule")) {
            try {
                schedule = ScheduleKind.parse(v.get("--schedule"));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--schedule should be gpipe, 1f1b or interleaved, but was `"
                        + v.get("--schedule") + "`");
            }
        }
        return new TrainJobOptions(
                Paths.get(v.required("--model")),
                v.get("--init-from"),
                v.required("--train"),
                v.integer("--label-column", null, 0),
                v.integer("--num-classes", null, 0),
                v.optionalInteger("--batch-size", 1),
                v.optionalInteger("--epochs", 1),
                v.optionalInteger("--stages", 1),
                v.optionalInteger("--micro-batches", 1),
                schedule,
                v.optionalInteger("--stages-per-device", 1),
                v.indices("--boundaries"),
                v.longValue("--seed"),
                v.bool("--shuffle"),
                v.get("--output"),
                v.has("--overwrite"),
                v.get("--resume-from"),
                v.get("--checkpoint-dir"),
                v.optionalInteger("--checkpoint-every", 0),
                v.has("--timeline") ? Paths.get(v.get("--timeline")) : null,
                v.has("--dry-run"),
                false,
                nonFinite(v.get("--non-finite")),
                replicas(v));
    }

    /** {@code --replicas}: null when not given, {@link #AUTO_REPLICAS} for {@code auto}, else the number (&gt;= 1). */
    private static Integer replicas(Flags v) {
        if (v.has("--replicas") && "auto".equalsIgnoreCase(v.get("--replicas").trim())) {
            return AUTO_REPLICAS;
        }
        return v.optionalInteger("--replicas", 1);
    }

    /** {@link #replicas()} for {@code --replicas auto}: the planner chooses R. */
    static final int AUTO_REPLICAS = 0;

    private static io.sparkmp.runtime.NonFinitePolicy nonFinite(String s) {
        if (s == null) {
            return null;
        }
        try {
            return io.sparkmp.runtime.NonFinitePolicy.parse(s);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--non-finite should be fail or skip, but was `" + s + "`");
        }
    }
}
