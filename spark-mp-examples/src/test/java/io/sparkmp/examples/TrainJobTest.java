package io.sparkmp.examples;

import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** TrainJob's command line and its bad-input handling (all rejected before any training starts). */
class TrainJobTest {

    static final Path CONF = Paths.get(System.getProperty("sparkmp.root", ".."), "conf");

    record Outcome(int code, String out, String err) {
    }

    private static SparkSession spark;

    @BeforeAll
    static void start() {
        spark = SparkSession.builder().master("local[2]").appName("TrainJobTest").config("spark.ui.enabled", "false")
                .getOrCreate();
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    static Outcome run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = TrainJob.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8), spark);
        return new Outcome(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    static String[] args(Path output, String... overrides) {
        List<String> a = new ArrayList<>(List.of("--model", CONF.resolve("example-model.json").toString(),
                "--train", CONF.resolve("example-train.csv").toString(), "--label-column", "4", "--num-classes", "3",
                "--stages", "2", "--output", output.toString()));
        for (int i = 0; i < overrides.length; i += 2) {
            int at = a.indexOf(overrides[i]);
            if (at >= 0) {
                a.set(at + 1, overrides[i + 1]);
            } else {
                a.add(overrides[i]);
                a.add(overrides[i + 1]);
            }
        }
        return a.toArray(new String[0]);
    }

    static void assertOneLineError(Outcome o, String expected, Path output) {
        assertEquals(TrainJob.EXIT_BAD_INPUT, o.code(), o.err());
        String line = o.err().strip();
        assertFalse(line.contains("\n"), "one line expected: " + o.err());
        assertTrue(line.startsWith("error: ") && line.contains(expected), "expected `" + expected + "` in: " + line);
        assertFalse(Files.exists(output), "nothing may be written at --output");
    }

    @Test
    void sparkMpSettingsApplyWhereNoFlagIsGiven(@TempDir Path dir) {
        // As `spark-submit --conf spark.mp.batchSize=20`: the flag is absent, so the key applies (it trained with 32).
        spark.sparkContext().conf().set("spark.mp.batchSize", "20");
        try {
            List<String> a = new ArrayList<>(List.of(args(dir.resolve("out"))));
            a.add("--dry-run");
            Outcome o = run(a.toArray(new String[0]));
            assertEquals(0, o.code(), o.err());
            assertTrue(o.out().contains("batch 20 = "), o.out());
            a.addAll(List.of("--batch-size", "40"));
            Outcome flagged = run(a.toArray(new String[0]));
            assertTrue(flagged.out().contains("batch 40 = "), "a given flag wins over the key: " + flagged.out());
        } finally {
            spark.sparkContext().conf().remove("spark.mp.batchSize");
        }
    }

    @Test
    void helpListsEveryFlag() {
        Outcome o = run("--help");
        assertEquals(0, o.code());
        for (String[] f : TrainJobOptions.FLAGS) {
            assertTrue(o.out().contains(f[0]), f[0]);
        }
    }

    @Test
    void badFlagsNameTheFlagAndValue(@TempDir Path dir) {
        Path out = dir.resolve("m.zip");
        assertOneLineError(run(args(out, "--epochs", "x")), "--epochs should be an integer >= 1, but was `x`", out);
        assertOneLineError(run(args(out, "--schedule", "zb")), "--schedule should be gpipe, 1f1b or interleaved, but was `zb`", out);
        assertOneLineError(run(args(out, "--non-finite", "ignore")), "--non-finite should be fail or skip, but was "
                + "`ignore`", out);
        assertOneLineError(run("--model", "m.json"), "--train is required", out);
        assertOneLineError(run(args(out, "--model", dir.resolve("missing.json").toString())),
                "--model " + dir.resolve("missing.json") + " cannot be read", out);
        assertOneLineError(run(args(out, "--micro-batches", "3")), "microBatches (3) must divide batchSize (32)", out);
        assertOneLineError(run(args(out, "--checkpoint-every", "5")), "--checkpoint-every needs --checkpoint-dir", out);
        assertOneLineError(run(args(out, "--checkpoint-every", "-1", "--checkpoint-dir", dir.toString())),
                "--checkpoint-every should be an integer >= 0, but was `-1`", out);
        assertOneLineError(run(args(out, "--replicas", "0")), "--replicas should be an integer >= 1, but was `0`", out);
        assertOneLineError(run(args(out, "--replicas", "3")), "replicas x microBatches (3 x 1 = 3) must divide batchSize (32)",
                out);
        assertOneLineError(run(args(out, "--stages", "5")), "stages x stagesPerDevice (5 x 1 = 5) must not exceed the model's layers (4)", out);
        assertOneLineError(run(args(dir.resolve("no/such/dir/m.zip"))), "does not exist or is not writable",
                dir.resolve("no/such/dir/m.zip"));
        assertOneLineError(run(args(out, "--timeline", dir.resolve("no/such/dir/t.html").toString())),
                "--timeline " + dir.resolve("no/such/dir/t.html") + ": folder", out);
    }

    @Test
    void timelineFlagWritesTheReportAfterTraining(@TempDir Path dir) throws Exception {
        Path model = dir.resolve("m.zip");
        Path page = dir.resolve("timeline.html");
        Outcome o = run(args(model, "--micro-batches", "4", "--timeline", page.toString()));
        assertEquals(0, o.code(), o.err());
        assertTrue(o.out().contains("timeline: ") && o.out().contains("written to " + page), o.out());
        String html = Files.readString(page, StandardCharsets.UTF_8);
        assertEquals(3, charts(html, "measured"), "steps 1, 2 and 3 are sampled");
        assertEquals(1, charts(html, "predicted"));
        assertTrue(Files.isRegularFile(model));
    }

    private static long charts(String html, String kind) {
        return java.util.regex.Pattern.compile("<svg[^>]*data-chart=\"" + kind + "\"").matcher(html).results().count();
    }

    @Test
    void csvThatDoesNotFitTheModelIsRejectedOnTheDriver(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("m.zip");
        Path wide = dir.resolve("wide.csv");
        Files.writeString(wide, "1,2,3,4,5,0\n2,3,4,5,6,1\n");
        assertOneLineError(run(args(out, "--train", wide.toString(), "--label-column", "5")),
                "has 6 columns (5 features + label), but the model input expects 4 features", out);
        Path badLabel = dir.resolve("label.csv");
        Files.writeString(badLabel, "1,2,3,4,0\n2,3,4,5,3\n");
        assertOneLineError(run(args(out, "--train", badLabel.toString())),
                "label `3.0` in column `label` is not a class index in [0, 3)", out);
        assertOneLineError(run(args(out, "--train", dir.resolve("none.csv").toString())),
                "--train " + dir.resolve("none.csv") + " cannot be read", out);
        // A store output is prepared before the labels are read: refused rows leave no folder behind.
        Path store = dir.resolve("store");
        assertOneLineError(run(args(store, "--train", badLabel.toString())),
                "label `3.0` in column `label` is not a class index in [0, 3)", store);
    }

    @Test
    void outputToAStoreIsRefusedWhenNotEmptyWithoutOverwriteAndInitFromContinuesTheStepCount(@TempDir Path dir)
            throws Exception {
        Path store = dir.resolve("store");
        Outcome first = run(args(store, "--epochs", "1", "--batch-size", "30", "--micro-batches", "2"));
        assertEquals(0, first.code(), first.err());
        assertTrue(first.out().contains("model written to file://" + store.toAbsolutePath()), first.out());
        io.sparkmp.store.StoreManifest m = io.sparkmp.store.ModelStore.open(store.toUri(),
                new org.apache.hadoop.conf.Configuration()).manifest();
        long steps = m.iteration();
        assertTrue(steps > 0, "steps " + steps);

        Outcome again = run(args(store, "--epochs", "1", "--batch-size", "30", "--micro-batches", "2"));
        assertEquals(TrainJob.EXIT_BAD_INPUT, again.code(), again.err());
        assertTrue(again.err().contains("is not empty") && again.err().contains("--overwrite"), again.err());
        assertEquals(m, io.sparkmp.store.ModelStore.open(store.toUri(), new org.apache.hadoop.conf.Configuration())
                .manifest(), "a refused run must leave the store as it was");

        Path next = dir.resolve("next");
        Outcome resumed = run(args(next, "--epochs", "1", "--batch-size", "30", "--micro-batches", "2",
                "--init-from", store.toString()));
        assertEquals(0, resumed.code(), resumed.err());
        assertTrue(resumed.out().contains("epoch 1 step " + steps + " loss"), resumed.out());
        assertEquals(2 * steps, io.sparkmp.store.ModelStore.open(next.toUri(), new org.apache.hadoop.conf.Configuration())
                .manifest().iteration());

        List<String> overwrite = new ArrayList<>(List.of(args(store, "--epochs", "1", "--batch-size", "30",
                "--micro-batches", "2")));
        overwrite.add("--overwrite");
        Outcome replaced = run(overwrite.toArray(new String[0]));
        assertEquals(0, replaced.code(), replaced.err());
    }

    /** A CSV of {@code rows} rows: {@code features} values from {@code value} per row, then a class label in [0, 3). */
    private static Path csv(Path dir, String name, int rows, int features, java.util.function.IntToDoubleFunction value)
            throws Exception {
        StringBuilder sb = new StringBuilder();
        java.util.Random r = new java.util.Random(5);
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < features; j++) {
                sb.append(String.format(java.util.Locale.ROOT, "%.4f", value.applyAsDouble(r.nextInt(1000)))).append(',');
            }
            sb.append(r.nextInt(3)).append('\n');
        }
        return Files.writeString(dir.resolve(name), sb.toString());
    }

    private static Path model(Path dir, String name, org.deeplearning4j.nn.conf.MultiLayerConfiguration conf) throws Exception {
        return Files.writeString(dir.resolve(name), conf.toJson());
    }

    private static org.deeplearning4j.nn.conf.NeuralNetConfiguration.ListBuilder list() {
        return new org.deeplearning4j.nn.conf.NeuralNetConfiguration.Builder().seed(1).updater(new org.nd4j.linalg.learning.config.Adam(0.01))
                .list();
    }

    private static org.deeplearning4j.nn.conf.layers.OutputLayer softmax3() {
        return new org.deeplearning4j.nn.conf.layers.OutputLayer.Builder(
                org.nd4j.linalg.lossfunctions.LossFunctions.LossFunction.MCXENT)
                .activation(org.nd4j.linalg.activations.Activation.SOFTMAX).nOut(3).build();
    }

    @Test
    void inputWidthComesFromTheModelsInputType(@TempDir Path dir) throws Exception {
        // A CNN declared convolutionalFlat(4, 4, 1) trains on flat rows of 16 values (its first layer's nIn is 1 channel).
        Path cnn = model(dir, "cnn.json", list()
                .layer(new org.deeplearning4j.nn.conf.layers.ConvolutionLayer.Builder(2, 2).nOut(2).build())
                .layer(new org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer.Builder().build())
                .layer(softmax3())
                .setInputType(org.deeplearning4j.nn.conf.inputs.InputType.convolutionalFlat(4, 4, 1)).build());
        Path rows16 = csv(dir, "rows16.csv", 64, 16, v -> v / 1000.0);
        Path cnnOut = dir.resolve("cnn.zip");
        Outcome ok = run(args(cnnOut, "--model", cnn.toString(), "--train", rows16.toString(), "--label-column", "16",
                "--batch-size", "16", "--epochs", "1"));
        assertEquals(0, ok.code(), ok.err());
        assertTrue(Files.isRegularFile(cnnOut));
        Path rows15 = csv(dir, "rows15.csv", 8, 15, v -> v / 1000.0);
        assertOneLineError(run(args(dir.resolve("x.zip"), "--model", cnn.toString(), "--train", rows15.toString(),
                        "--label-column", "15")),
                "has 16 columns (15 features + label), but the model input expects 16 features (convolutionalFlat(4, 4, 1))",
                dir.resolve("x.zip"));

        // An EmbeddingLayer first takes one index column (its nIn is the vocabulary size, 10; sizes given by hand:
        // setInputType would set that nIn to the input width).
        Path emb = model(dir, "emb.json", list()
                .layer(new org.deeplearning4j.nn.conf.layers.EmbeddingLayer.Builder().nIn(10).nOut(4).build())
                .layer(new org.deeplearning4j.nn.conf.layers.DenseLayer.Builder().nIn(4).nOut(4).build())
                .layer(new org.deeplearning4j.nn.conf.layers.OutputLayer.Builder(
                        org.nd4j.linalg.lossfunctions.LossFunctions.LossFunction.MCXENT)
                        .activation(org.nd4j.linalg.activations.Activation.SOFTMAX).nIn(4).nOut(3).build())
                .build());
        Path indices = csv(dir, "indices.csv", 64, 1, v -> v % 10);
        Outcome embOk = run(args(dir.resolve("emb.zip"), "--model", emb.toString(), "--train", indices.toString(),
                "--label-column", "1", "--batch-size", "16", "--epochs", "1"));
        assertEquals(0, embOk.code(), embOk.err());
    }

    @Test
    void unsupportedLayerIsBadInputBeforeAnyJob(@TempDir Path dir) throws Exception {
        Path m = model(dir, "center.json", list()
                .layer(new org.deeplearning4j.nn.conf.layers.DenseLayer.Builder().nOut(4).build())
                .layer(new org.deeplearning4j.nn.conf.layers.AutoEncoder.Builder().nOut(3).build())
                .layer(softmax3())
                .setInputType(org.deeplearning4j.nn.conf.inputs.InputType.feedForward(4)).build());
        Path out = dir.resolve("m.zip");
        assertOneLineError(run(args(out, "--model", m.toString())),
                "layer 1 (AutoEncoder) is a pretraining layer", out);
    }
}
