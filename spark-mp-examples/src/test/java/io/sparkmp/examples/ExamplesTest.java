package io.sparkmp.examples;

import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.apache.spark.sql.SparkSession;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The bundled examples, at small sizes, through their command lines on a local Spark: the loss goes down by a
 * margin an untrained or broken model does not reach, and the written model loads and does what the trained one does.
 */
class ExamplesTest {

    private static final Pattern STEP = Pattern.compile("^epoch (\\d+) step (\\d+) loss ([0-9.]+) ", Pattern.MULTILINE);

    private static SparkSession spark;

    @BeforeAll
    static void start() {
        spark = SparkSession.builder().master("local[2]").appName("ExamplesTest").config("spark.ui.enabled", "false")
                .getOrCreate();
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    record Outcome(int code, String out, String err) {
        List<Double> losses() {
            Matcher m = STEP.matcher(out);
            return m.results().map(r -> Double.parseDouble(r.group(3))).toList();
        }
    }

    private interface Main {
        int run(String[] args, PrintStream out, PrintStream err, SparkSession existing);
    }

    private static Outcome run(Main main, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8), spark);
        return new Outcome(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /** Mean of the last {@code n} losses. */
    private static double tailMean(List<Double> losses, int n) {
        return losses.subList(losses.size() - n, losses.size()).stream().mapToDouble(Double::doubleValue).average()
                .orElseThrow();
    }

    /**
     * A 4-class example trained {@code steps} steps on 2 stages: its loss starts near ln 4 = 1.386 (a network that
     * does not learn stays there) and falls by 40 %, and its written model, loaded, scores the held-out accuracy the
     * job printed, above 0.6 (chance 0.25).
     */
    private static void assertClassifierLearned(Outcome o, int steps, Path zip,
                                                java.util.function.ToDoubleFunction<MultiLayerNetwork> heldOutAccuracy)
            throws Exception {
        assertEquals(0, o.code(), o.err() + o.out());
        List<Double> losses = o.losses();
        assertEquals(steps, losses.size(), o.out());
        System.out.println("losses " + losses);
        assertTrue(losses.get(0) > 0.9, "first loss " + losses.get(0));
        assertTrue(tailMean(losses, 8) < 0.6 * losses.get(0), "loss must fall by 40 %: " + losses);
        assertTrue(o.out().contains("on 2 stages"), o.out());
        double acc = heldOutAccuracy.applyAsDouble(ModelSerializer.restoreMultiLayerNetwork(zip.toFile(), false));
        assertTrue(o.out().contains(String.format(java.util.Locale.ROOT, "held-out accuracy %.3f on 256", acc)),
                "the loaded model must score as the trained one: " + acc + "\n" + o.out());
        assertTrue(acc > 0.6, "held-out accuracy " + acc + " (chance 0.25)");
    }

    @Test
    void cnnLearnsTheShapesOnTwoStagesAndItsModelLoads(@TempDir Path dir) throws Exception {
        Path zip = dir.resolve("cnn.zip");
        Outcome o = run(CnnExample::run, "--examples", "512", "--side", "12", "--epochs", "4", "--test-examples", "256",
                "--output", zip.toString());
        assertClassifierLearned(o, 64, zip, net -> CnnExample.accuracy(net, 512, 256, 12, 42)); // 512 / 32 x 4 epochs
    }

    @Test
    void charLstmLearnsTheBundledTextOnTwoStagesAndItsModelLoads(@TempDir Path dir) throws Exception {
        Path zip = dir.resolve("lstm.zip");
        Outcome o = run(CharLstmExample::run, "--hidden", "32", "--sequence-length", "16", "--stride", "8", "--epochs", "3",
                "--sample", "40", "--output", zip.toString());
        assertEquals(0, o.code(), o.err() + o.out());
        List<Double> losses = o.losses();
        CharText text = CharText.of(CharText.read(null), 16, 8);
        int steps = text.sequences() / 32;
        assertEquals(3 * steps, losses.size(), text.sequences() + " sequences / 32 per mini-batch x 3 epochs:\n" + o.out());
        System.out.println("lstm losses " + losses);
        System.out.println(o.out().lines().filter(l -> l.startsWith("loss per") || l.startsWith("sample")).toList());
        double uniform = 16 * Math.log(text.vocabulary().length()); // summed over the 16 steps of a sequence
        assertEquals(uniform, losses.get(0), 0.1 * uniform, "an untrained model guesses about uniformly");
        // a model that does not train stays at the first loss; learning the characters' frequencies alone gets below 0.9 x
        assertTrue(tailMean(losses, 4) < 0.85 * losses.get(0), "loss must fall by 15 %: " + losses);
        assertTrue(o.out().contains("on 2 stages"), o.out());

        MultiLayerNetwork loaded = ModelSerializer.restoreMultiLayerNetwork(zip.toFile(), false);
        double perChar = CharLstmExample.lossPerCharacter(loaded, text);
        assertTrue(o.out().contains(String.format(java.util.Locale.ROOT, "loss per character %.4f nats", perChar)),
                "the loaded model must score as the trained one: " + perChar + "\n" + o.out());
        assertTrue(perChar < 0.85 * Math.log(text.vocabulary().length()), "per character " + perChar);
        String sample = CharLstmExample.sample(loaded, text, "it was t", 40, 42);
        assertTrue(o.out().contains("sample: " + sample), "the loaded model writes the printed sample: " + sample);
    }

    @Test
    void attentionClassifierLearnsOnTwoStagesAndItsModelLoads(@TempDir Path dir) throws Exception {
        Path zip = dir.resolve("attention.zip");
        Outcome o = run(AttentionExample::run, "--examples", "512", "--epochs", "3", "--width", "16", "--test-examples", "256",
                "--output", zip.toString());
        assertClassifierLearned(o, 48, zip, net -> AttentionExample.accuracy(net, 512, 256, 16, 16, 42)); // 512 / 32 x 3
    }

    @Test
    void transformerLearnsOnTwoStagesAndItsModelLoads(@TempDir Path dir) throws Exception {
        Path zip = dir.resolve("transformer.zip");
        Outcome o = run(TransformerExample::run, "--examples", "512", "--epochs", "3", "--width", "16", "--blocks", "2",
                "--test-examples", "256", "--output", zip.toString());
        assertClassifierLearned(o, 48, zip, net -> TransformerExample.accuracy(net, 512, 256, 16, 16, 42)); // 512 / 32 x 3
        // embedding, 2 x (attention, dense up, dense down), pooling, output; the cut after the first block
        assertEquals(TransformerExample.layers(2), ModelSerializer.restoreMultiLayerNetwork(zip.toFile(), false).getnLayers());
        Outcome heads = run(TransformerExample::run, "--width", "18", "--heads", "4", "--output", zip.toString());
        assertEquals(TrainJob.EXIT_BAD_INPUT, heads.code());
        assertTrue(heads.err().contains("--width should be a multiple of --heads (4), but was `18`"), heads.err());
    }

    @Test
    void badExampleFlagsAreRejectedBeforeTraining(@TempDir Path dir) {
        Path zip = dir.resolve("m.zip");
        Outcome side = run(CnnExample::run, "--side", "10", "--output", zip.toString());
        assertEquals(TrainJob.EXIT_BAD_INPUT, side.code());
        assertTrue(side.err().contains("--side should be a multiple of 4 (two 2x2 poolings), but was `10`"), side.err());
        Outcome micro = run(CnnExample::run, "--micro-batches", "3", "--output", zip.toString());
        assertTrue(micro.err().contains("microBatches (3) must divide batchSize (32)"), micro.err());
        Outcome unknown = run(CnnExample::run, "--model", "m.json");
        assertTrue(unknown.err().contains("unknown flag --model"), unknown.err());
        Outcome help = run(CnnExample::run, "--help");
        assertEquals(0, help.code());
        assertTrue(help.out().contains("--examples <n>") && help.out().contains("--output <zip|dir|URI>"), help.out());
        assertTrue(!Files.exists(zip));
    }
}
