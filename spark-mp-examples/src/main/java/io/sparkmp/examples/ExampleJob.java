package io.sparkmp.examples;

import io.sparkmp.spark.PipelineTrainer;
import io.sparkmp.spark.TrainingResult;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.dataset.DataSet;

import java.io.PrintStream;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;

/**
 * The command line the bundled examples share ({@link CnnExample}, {@link CharLstmExample}): each makes its model
 * and its data in code (nothing is downloaded), trains on 2 stages split where the example says (or on
 * {@code --stages P} split by the planner), prints one line per optimizer step and the summary as
 * {@link TrainJob} does, writes the model ({@code --output}: a DL4J zip, or a per-layer store), then prints what
 * the trained network does. Bad input exits with 2 before Spark starts, as in {@link TrainJob}.
 */
final class ExampleJob {

    /** The flags of every example, after its own. */
    static final String[][] COMMON_FLAGS = {
            {"--epochs", "<n>", "passes over the data (default: the example's)"},
            {"--batch-size", "<n>", "examples per mini-batch (default: the example's)"},
            {"--micro-batches", "<M>", "micro-batches per mini-batch, must divide the batch size (default: the example's)"},
            {"--stages", "<P>", "pipeline stages (default 2, split where the example says; another P: the planner's split)"},
            {"--seed", "<n>", "seed of the data, the initialisation and the dropout masks (default 42)"},
            {"--output", "<zip|dir|URI>", "the trained model: a DL4J zip for a name ending in .zip, else a per-layer "
                    + "store (default: the example's zip in the working directory)"},
            {"--overwrite", "", "replace an existing store at --output"},
            {"--help", "", "print this help"},
    };

    /** One example: its model, its 2-stage split and its data, made from the parsed flags. */
    interface Example {
        MultiLayerConfiguration conf();

        /** Layer boundaries of the example's 2-stage split, {@code {0, b, layers}}. */
        int[] twoStageSplit();

        /** The training examples, made on the executors (or read from the jar), in a fixed order. */
        JavaRDD<DataSet> trainingData(JavaSparkContext sc);

        /** Prints what the trained network does (held-out accuracy, a text sample). */
        void describe(MultiLayerNetwork trained, PrintStream out);

        /** Whether to train in a seeded random order (reshuffled every epoch) rather than in the data's order. */
        default boolean shuffle() {
            return false;
        }
    }

    /** The example's name and sizes, its own flags, and how it is made from the flags. */
    record Definition(String name, String description, String[][] ownFlags, int epochs, int batchSize, int microBatches,
                      Function<Flags, Example> factory) {
        String[][] flags() {
            List<String[]> all = new ArrayList<>(Arrays.asList(ownFlags));
            all.addAll(Arrays.asList(COMMON_FLAGS));
            return all.toArray(new String[0][]);
        }

        String usage(String mainClass) {
            return Flags.usage("Usage: spark-submit --class " + mainClass + " <jar> [flags]\n" + description
                    + " (an embedded local[*] Spark when no master is set).\n\n", flags());
        }
    }

    /** Makes the examples {@code [start, start + size)} of a generated data set; sent to the executors. */
    @FunctionalInterface
    interface ChunkMaker extends java.io.Serializable {
        DataSet make(long start, int size);
    }

    private ExampleJob() {
    }

    /** Examples {@code [first, first + count)} in order, as DataSets of at most {@code chunk}, made where the RDD is computed. */
    static JavaRDD<DataSet> chunked(JavaSparkContext sc, long first, long count, int chunk, ChunkMaker maker) {
        List<Long> starts = new ArrayList<>();
        for (long s = first; s < first + count; s += chunk) {
            starts.add(s);
        }
        int slices = Math.max(1, Math.min(starts.size(), sc.defaultParallelism()));
        long end = first + count;
        return sc.parallelize(starts, slices).map(s -> maker.make(s, (int) Math.min(chunk, end - s)));
    }

    /** Accuracy of {@code net} on the examples {@code [first, first + count)}, made {@code chunk} at a time. */
    static double accuracy(MultiLayerNetwork net, int classes, long first, int count, int chunk, ChunkMaker maker) {
        org.nd4j.evaluation.classification.Evaluation eval = new org.nd4j.evaluation.classification.Evaluation(classes);
        for (long s = first; s < first + count; s += chunk) {
            DataSet ds = maker.make(s, (int) Math.min(chunk, first + count - s));
            eval.eval(ds.getLabels(), net.output(ds.getFeatures(), false));
        }
        return eval.accuracy();
    }

    /** Runs the example and returns the exit code; never calls System.exit. {@code existing}: a session to use (tests). */
    static int run(Definition d, String mainClass, String[] args, PrintStream out, PrintStream err, SparkSession existing) {
        SparkSession spark = null;
        try {
            Flags f = Flags.parse(args, d.flags());
            if (f.help()) {
                out.print(d.usage(mainClass));
                return 0;
            }
            int epochs = f.integer("--epochs", d.epochs(), 1);
            int batchSize = f.integer("--batch-size", d.batchSize(), 1);
            int microBatches = f.integer("--micro-batches", d.microBatches(), 1);
            Integer stages = f.optionalInteger("--stages", 1);
            String output = f.has("--output") ? f.get("--output") : d.name() + "-model.zip";
            Example ex = d.factory().apply(f);
            boolean zip = output.toLowerCase(java.util.Locale.ROOT).endsWith(".zip");
            Path zipPath = zip ? Paths.get(output) : null;
            TrainJob.checkZipOutput(zipPath);
            PipelineTrainer.Builder b = PipelineTrainer.builder(ex.conf()).epochs(epochs).batchSize(batchSize)
                    .microBatches(microBatches).shuffle(ex.shuffle()).progressListener(r -> out.println("progress: " + r));
            if (stages == null || stages == 2) {
                b.boundaries(ex.twoStageSplit());
            } else {
                b.stages(stages);
            }
            Long seed = f.longValue("--seed");
            if (seed != null) {
                b.seed(seed);
            }
            if (!zip) {
                b.output(TrainJobOptions.uriOf(output));
            }
            if (f.has("--overwrite")) {
                b.overwrite(true);
            }
            PipelineTrainer trainer = b.build(); // settings are checked before Spark starts
            spark = existing != null ? existing : TrainJob.session("spark-mp " + d.name() + " example");
            TrainingResult result = trainer.fit(ex.trainingData(JavaSparkContext.fromSparkContext(spark.sparkContext())));
            MultiLayerNetwork trained = result.network();
            if (zip) {
                TrainJob.writeAtomically(trained, zipPath);
            }
            TrainJob.printResult(result, out, zip ? output : result.store().toString());
            ex.describe(trained, out);
            return 0;
        } catch (IllegalArgumentException | IllegalStateException | io.sparkmp.plan.InfeasiblePlanException e) {
            err.println("error: " + e.getMessage());
            return TrainJob.EXIT_BAD_INPUT;
        } catch (Exception | Error e) {
            err.println("error: training failed: " + TrainJob.rootMessage(e));
            e.printStackTrace(err);
            return TrainJob.EXIT_FAILED;
        } finally {
            if (spark != null && existing == null) {
                spark.stop();
            }
        }
    }
}
