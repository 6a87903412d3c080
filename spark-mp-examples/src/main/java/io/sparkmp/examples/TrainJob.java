package io.sparkmp.examples;

import io.sparkmp.runtime.AtomicFiles;
import io.sparkmp.spark.PipelineTrainer;
import io.sparkmp.spark.SparkMpConf;
import io.sparkmp.spark.StepReport;
import io.sparkmp.spark.TrainingResult;
import org.apache.spark.SparkConf;
import org.apache.spark.sql.AnalysisException;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.NumericType;
import org.apache.spark.sql.types.StructField;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.util.ModelSerializer;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Trains a DL4J network, pipeline-parallel, on rows of a CSV file:
 * {@code spark-submit --class io.sparkmp.examples.TrainJob <jar> --model m.json --train data.csv
 * --label-column 4 --num-classes 3 --stages 2 --output model-store}. {@code --output} names a per-layer store
 * (a directory or any Hadoop FileSystem URI; every stage writes its own layers, the driver never holds the
 * model) or, ending in {@code .zip}, a DL4J ModelSerializer zip assembled on the driver; {@code --init-from}
 * takes either. Stages, micro-batches, schedule and the
 * split that are not given are chosen by the planner; {@code --dry-run} prints its plan and exits. Without a master (plain {@code java},
 * no {@code spark.master}) it runs on an embedded {@code local[*]} Spark. {@code --help} lists the flags.
 *
 * <p>Bad input (missing or unreadable files, CSV width not matching the model input, a label outside
 * [0, K), more stages than layers or executor slots, micro-batches not dividing the batch size) ends with
 * one line on stderr naming the value, exit code 2, and nothing written at {@code --output} (a zip is
 * written to a temporary file next to it and renamed; a store is complete only once its manifest is
 * committed, after every stage wrote its layers; a non-empty store is refused without {@code --overwrite}). Other
 * failures exit with 1; on an out-of-memory error the line names DL4J's memory crash dumps, which go to one known
 * folder ({@link CrashDumps}). The JVM always ends through {@link System#exit}: a barrier task timer thread can
 * otherwise keep it alive.
 */
public final class TrainJob {
    static final int EXIT_BAD_INPUT = 2;
    static final int EXIT_FAILED = 1;

    private TrainJob() {
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    /** Runs the job and returns the exit code; never calls System.exit. */
    static int run(String[] args, PrintStream out, PrintStream err) {
        return run(args, out, err, null);
    }

    /** As {@link #run(String[], PrintStream, PrintStream)} on a given session, which is left running (tests). */
    static int run(String[] args, PrintStream out, PrintStream err, SparkSession existing) {
        TrainJobOptions o;
        try {
            o = TrainJobOptions.parse(args);
        } catch (IllegalArgumentException e) {
            err.println("error: " + e.getMessage());
            return EXIT_BAD_INPUT;
        }
        if (o.help()) {
            out.print(TrainJobOptions.usage());
            return 0;
        }
        SparkSession spark = null;
        CrashDumps dumps = CrashDumps.install(); // DL4J's out-of-memory dumps go to one known folder, not the cwd
        try {
            Object model = readModel(o.model());
            MultiLayerConfiguration conf = model instanceof MultiLayerConfiguration m ? m : null;
            ComputationGraphConfiguration graph = model instanceof ComputationGraphConfiguration g ? g : null;
            Path zip = o.outputIsZip() ? Paths.get(o.output()) : null;
            checkZipOutput(zip);
            checkTimeline(o.timeline());
            PipelineTrainer.Builder b = (graph != null ? PipelineTrainer.builder(graph) : PipelineTrainer.builder(conf))
                    .progressListener(r -> out.println("progress: " + r));
            // Only flags that were given: the rest come from spark.mp.* (e.g. --conf spark.mp.batchSize=20), then
            // from their defaults; stages, micro-batches, schedule and v not given are the planner's choice.
            if (o.batchSize() != null) {
                b.batchSize(o.batchSize());
            }
            if (o.epochs() != null) {
                b.epochs(o.epochs());
            }
            if (o.seed() != null) {
                b.seed(o.seed());
            }
            if (o.shuffle() != null) {
                b.shuffle(o.shuffle());
            }
            if (o.stages() != null) {
                b.stages(o.stages());
            }
            if (o.replicas() != null && o.replicas() == TrainJobOptions.AUTO_REPLICAS) {
                b.replicasAuto();
            } else if (o.replicas() != null) {
                b.replicas(o.replicas());
            }
            if (o.microBatches() != null) {
                b.microBatches(o.microBatches());
            }
            if (o.schedule() != null) {
                b.schedule(o.schedule());
            }
            if (o.stagesPerDevice() != null) {
                b.stagesPerDevice(o.stagesPerDevice());
            }
            if (o.boundaries() != null) {
                b.boundaries(o.boundaries());
            }
            if (o.initFrom() != null) {
                b.initFrom(TrainJobOptions.uriOf(o.initFrom()));
            }
            if (o.output() != null && zip == null) {
                b.output(TrainJobOptions.uriOf(o.output()));
            }
            if (o.overwrite()) {
                b.overwrite(true);
            }
            if (o.timeline() != null) {
                b.timeline(o.timeline().toString());
            }
            if (o.resumeFrom() != null) {
                b.resumeFrom(TrainJobOptions.uriOf(o.resumeFrom()));
            }
            if (o.nonFinite() != null) {
                b.nonFinite(o.nonFinite());
            }
            if (o.checkpointDir() != null) {
                b.checkpoint(TrainJobOptions.uriOf(o.checkpointDir()),
                        o.checkpointEvery() != null ? o.checkpointEvery() : SparkMpConf.CHECKPOINT_EVERY.defaultValue());
            } else if (o.checkpointEvery() != null) {
                throw new IllegalArgumentException("--checkpoint-every needs --checkpoint-dir");
            }
            PipelineTrainer trainer = b.build(); // settings are checked before Spark starts
            spark = existing != null ? existing : session("spark-mp TrainJob");
            Dataset<Row> rows = readCsv(spark, o, conf);
            if (o.dryRun()) {
                out.print(trainer.plan(rows, "features", "label", o.numClasses()).explain());
                return 0;
            }
            long fitStartedMs = System.currentTimeMillis() / 1000 * 1000; // file times may have second granularity
            TrainingResult result = trainer.fit(rows, "features", "label", o.numClasses());
            if (zip != null) {
                writeAtomically(graph != null ? result.graph() : result.network(), zip);
            }
            printResult(result, out, o.output() == null ? null : zip != null ? zip.toString() : result.store().toString());
            if (o.timeline() != null) {
                // The trainer logs, and does not throw, when it cannot write the report: a stale file is not it.
                if (!Files.isRegularFile(o.timeline())
                        || Files.getLastModifiedTime(o.timeline()).toMillis() < fitStartedMs) {
                    err.println("error: the timeline report could not be written to " + o.timeline() + " (see the log)");
                    return EXIT_FAILED;
                }
                out.printf(Locale.ROOT, "timeline: %d events (%d dropped) written to %s; open it in a browser%n",
                        result.timeline().events().size(), result.timeline().dropped(), o.timeline());
            }
            return 0;
        } catch (IllegalArgumentException | IllegalStateException | io.sparkmp.plan.InfeasiblePlanException e) {
            err.println("error: " + e.getMessage());
            return EXIT_BAD_INPUT;
        } catch (Exception | Error e) {
            err.println("error: training failed: " + rootMessage(e) + dumps.describe(e));
            e.printStackTrace(err);
            return EXIT_FAILED;
        } finally {
            if (spark != null && existing == null) {
                spark.stop();
            }
        }
    }

    /**
     * Prints one line per optimizer step, the summary ({@code trained 36 steps (2 epochs, ...) ..., final loss x}, with
     * {@code ; model written to <writtenTo>} when not null) and the plan's predicted against measured step time.
     */
    static void printResult(TrainingResult result, PrintStream out, String writtenTo) {
        for (StepReport r : result.metrics()) {
            out.printf(Locale.ROOT, "epoch %d step %d loss %.6f (%.0f samples/s, bubble %.2f)%n", r.epoch(),
                    r.step(), r.loss(), r.samplesPerSecond(), r.bubbleFraction());
        }
        StepReport last = result.metrics().get(result.metrics().size() - 1);
        out.printf(Locale.ROOT, "trained %d steps (%d epochs, %d examples/epoch, %d dropped) on %d stages%s in "
                        + "%.1f s: %.1f samples/s, final loss %.6f%s%n", result.metrics().size(), last.epoch() + 1,
                result.examplesPerEpoch(), result.droppedPerEpoch(), result.plan().devices(),
                result.plan().replicas() == 1 ? "" : " x " + result.plan().replicas() + " replicas",
                result.trainingSeconds(), result.samplesPerSecond(), last.loss(),
                writtenTo == null ? "" : "; model written to " + writtenTo);
        if (result.planAccuracy() != null) {
            out.println("plan: " + result.planAccuracy());
        }
    }

    /** The job's session: spark-submit's, or without a master an embedded {@code local[*]} Spark. */
    static SparkSession session(String appName) {
        SparkConf sc = new SparkConf();
        if (!sc.contains("spark.master")) {
            // No spark-submit and no master: an embedded local Spark, with live progress every 2 s.
            sc.setMaster("local[*]").set("spark.ui.showConsoleProgress", "false");
            if (!sc.contains("spark.executor.heartbeatInterval")) {
                sc.set("spark.executor.heartbeatInterval", "2s");
            }
        }
        if (!sc.contains("spark.app.name")) {
            sc.setAppName(appName);
        }
        return SparkSession.builder().config(sc).getOrCreate();
    }

    /**
     * The model of {@code --model}: a MultiLayerConfiguration, or a ComputationGraphConfiguration (of one input and
     * one output: the CSV gives one features row and one label) when the JSON has a graph's {@code vertices}.
     */
    static Object readModel(Path p) {
        String json;
        try {
            json = Files.readString(p, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalArgumentException("--model " + p + " cannot be read: " + e);
        }
        if (io.sparkmp.model.ModelJson.isGraph(json)) {
            ComputationGraphConfiguration graph;
            try {
                graph = ComputationGraphConfiguration.fromJson(json);
            } catch (RuntimeException e) {
                throw new IllegalArgumentException("--model " + p + " is not a DL4J ComputationGraphConfiguration JSON: "
                        + firstLine(rootMessage(e)));
            }
            if (graph.getNetworkInputs().size() != 1 || graph.getNetworkOutputs().size() != 1) {
                throw new IllegalArgumentException("--model " + p + " is a graph of inputs " + graph.getNetworkInputs()
                        + " and outputs " + graph.getNetworkOutputs() + "; TrainJob trains graphs of one input and "
                        + "one output (one features row and one label per CSV line)");
            }
            try {
                io.sparkmp.model.GraphSupport.validate(graph); // unsupported vertices: exit 2 before Spark starts
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--model " + p + ": " + e.getMessage());
            }
            return graph;
        }
        MultiLayerConfiguration conf;
        try {
            conf = MultiLayerConfiguration.fromJson(json);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("--model " + p + " is not a DL4J MultiLayerConfiguration JSON: "
                    + firstLine(rootMessage(e)));
        }
        try {
            io.sparkmp.model.ModelSlicer.validate(conf); // unsupported layers: exit 2 before Spark starts
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--model " + p + ": " + e.getMessage());
        }
        return conf;
    }

    static void checkZipOutput(Path output) {
        checkFileTarget("--output", output, "a name ending in .zip is a DL4J zip");
    }

    private static void checkTimeline(Path timeline) {
        checkFileTarget("--timeline", timeline, "expected an .html file path");
    }

    /** {@code file} (when given) can be created or replaced: its folder exists and is writable, it is no folder. */
    private static void checkFileTarget(String flag, Path file, String whatIsExpected) {
        if (file == null) {
            return;
        }
        Path dir = file.toAbsolutePath().getParent();
        if (dir == null || !Files.isDirectory(dir) || !Files.isWritable(dir)) {
            throw new IllegalArgumentException(flag + " " + file + ": folder " + dir + " does not exist or is not writable");
        }
        if (Files.isDirectory(file)) {
            throw new IllegalArgumentException(flag + " " + file + " is a folder; " + whatIsExpected);
        }
    }

    /** Reads the CSV, checks its width and types against the model, and makes (features array, label) rows. */
    static Dataset<Row> readCsv(SparkSession spark, TrainJobOptions o, MultiLayerConfiguration conf) {
        Dataset<Row> csv;
        try {
            csv = spark.read().option("header", "false").option("inferSchema", "true").option("mode", "FAILFAST")
                    .csv(o.train());
        } catch (Exception e) { // AnalysisException is checked in Scala terms only
            if (e instanceof AnalysisException) {
                throw new IllegalArgumentException("--train " + o.train() + " cannot be read: "
                        + firstLine(((AnalysisException) e).getSimpleMessage()));
            }
            throw new IllegalArgumentException("--train " + o.train() + " cannot be read: " + firstLine(rootMessage(e)));
        }
        StructField[] fields = csv.schema().fields();
        if (o.labelColumn() >= fields.length) {
            throw new IllegalArgumentException("--label-column " + o.labelColumn() + " is outside the " + fields.length
                    + " columns of " + o.train());
        }
        int width = fields.length - 1;
        io.sparkmp.model.ModelInput input = conf == null ? null : io.sparkmp.model.ModelInput.of(conf); // a graph: its first layer checks the width
        if (input != null && !input.fits(width)) {
            throw new IllegalArgumentException("--train " + o.train() + " has " + fields.length + " columns (" + width
                    + " features + label), but the model input expects " + input.expected());
        }
        List<Column> features = new ArrayList<>();
        for (int i = 0; i < fields.length; i++) {
            if (!(fields[i].dataType() instanceof NumericType)) {
                throw new IllegalArgumentException("--train column " + i + " is " + fields[i].dataType().simpleString()
                        + ", every column must be numeric");
            }
            if (i != o.labelColumn()) {
                features.add(functions.col(fields[i].name()).cast("double"));
            }
        }
        return csv.select(functions.array(features.toArray(new Column[0])).as("features"),
                functions.col(fields[o.labelColumn()].name()).as("label"));
    }

    /** Writes next to the target and renames, so a failure never leaves a partial model at {@code output}. */
    static void writeAtomically(org.deeplearning4j.nn.api.Model net, Path output) throws IOException {
        AtomicFiles.replace(output, tmp -> {
            ModelSerializer.writeModel(net, tmp.toFile(), true);
            try { // createTempFile makes it owner-only; a model file is as readable as any other output
                Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
            } catch (UnsupportedOperationException notPosix) {
                // keep the platform's default
            }
        });
    }

    static String rootMessage(Throwable t) {
        Throwable r = t;
        while (r.getCause() != null && r.getCause() != r) {
            r = r.getCause();
        }
        return r.getMessage() != null ? r.getMessage() : r.toString();
    }

    private static String firstLine(String s) {
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
