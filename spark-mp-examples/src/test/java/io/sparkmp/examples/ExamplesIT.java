package io.sparkmp.examples;

import io.sparkmp.spark.testing.SparkStandaloneCluster;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The bundled examples through spark-submit on a 2-worker standalone cluster, at small sizes: the CNN's images and
 * the attention model's sequences are made on the executors, the LSTM's text is read from the jar; each writes a model zip that loads and scores as the
 * job printed.
 */
class ExamplesIT {

    @RegisterExtension
    static final SparkStandaloneCluster CLUSTER = SparkStandaloneCluster.withWorkers(2).withoutSession();

    private static SparkSubmitRun submit(Class<?> main, String name, List<String> args) throws Exception {
        Path work = Files.createDirectories(CLUSTER.clusterDir().resolve(name));
        SparkSubmitRun run = SparkSubmitRun.run(CLUSTER, main, args, work.resolve("spark-submit.log"), 240);
        System.out.printf("spark-submit %s ran %.1f s%n%s%n", main.getSimpleName(), run.seconds(), run.output().lines()
                .filter(l -> l.startsWith("trained ") || l.startsWith("held-out") || l.startsWith("loss per")).toList());
        assertTrue(run.ended(), "spark-submit did not end within 240 s:\n" + run.output());
        assertEquals(0, run.exitCode(), run.output());
        return run;
    }

    @Test
    void cnnExampleRunsThroughSparkSubmit() throws Exception {
        Path zip = CLUSTER.clusterDir().resolve("cnn-model.zip");
        SparkSubmitRun run = submit(CnnExample.class, "cnn", List.of("--examples", "256", "--side", "8", "--epochs", "1",
                "--test-examples", "128", "--output", zip.toString()));
        assertTrue(run.output().contains("epoch 0 step 7 loss"), "256 images / 32 = 8 steps:\n" + run.output());
        double acc = CnnExample.accuracy(ModelSerializer.restoreMultiLayerNetwork(zip.toFile(), false), 256, 128, 8, 42);
        assertTrue(run.output().contains(String.format(Locale.ROOT, "held-out accuracy %.3f on 128", acc)),
                acc + "\n" + run.output());
    }

    @Test
    void attentionExampleRunsThroughSparkSubmit() throws Exception {
        Path zip = CLUSTER.clusterDir().resolve("attention-model.zip");
        SparkSubmitRun run = submit(AttentionExample.class, "attention", List.of("--examples", "256", "--epochs", "1",
                "--width", "8", "--test-examples", "128", "--output", zip.toString()));
        assertTrue(run.output().contains("epoch 0 step 7 loss"), "256 sequences / 32 = 8 steps:\n" + run.output());
        double acc = AttentionExample.accuracy(ModelSerializer.restoreMultiLayerNetwork(zip.toFile(), false), 256, 128,
                16, 16, 42);
        assertTrue(run.output().contains(String.format(Locale.ROOT, "held-out accuracy %.3f on 128", acc)),
                acc + "\n" + run.output());
    }

    @Test
    void charLstmExampleRunsThroughSparkSubmit() throws Exception {
        Path zip = CLUSTER.clusterDir().resolve("lstm-model.zip");
        SparkSubmitRun run = submit(CharLstmExample.class, "lstm", List.of("--hidden", "16", "--sequence-length", "12",
                "--stride", "12", "--epochs", "1", "--sample", "20", "--output", zip.toString()));
        CharText text = CharText.of(CharText.read(null), 12, 12);
        int steps = text.sequences() / 32;
        assertTrue(run.output().contains("epoch 0 step " + (steps - 1) + " loss"), run.output());
        MultiLayerNetwork loaded = ModelSerializer.restoreMultiLayerNetwork(zip.toFile(), false);
        double perChar = CharLstmExample.lossPerCharacter(loaded, text);
        assertTrue(run.output().contains(String.format(Locale.ROOT, "loss per character %.4f nats", perChar)),
                perChar + "\n" + run.output());
    }
}
