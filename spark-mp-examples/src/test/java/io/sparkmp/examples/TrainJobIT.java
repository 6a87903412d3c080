package io.sparkmp.examples;

import io.sparkmp.spark.testing.SparkStandaloneCluster;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The spark-submit job end to end: a forked {@code SparkSubmit} (client mode) runs TrainJob from the
 * examples jar on a 2-worker standalone cluster with the bundled files; the model zip it writes must load
 * and hold the parameters DL4J's own fit reaches on the same mini-batches from the same start.
 */
class TrainJobIT {

    @RegisterExtension
    static final SparkStandaloneCluster CLUSTER = SparkStandaloneCluster.withWorkers(2).withoutSession();

    @Test
    void sparkSubmitTrainsTheBundledExampleAndWritesALoadableModel() throws Exception {
        Path conf = Paths.get(System.getProperty("sparkmp.confDir"));
        Path work = Files.createDirectories(CLUSTER.clusterDir().resolve("job"));
        MultiLayerConfiguration model = MultiLayerConfiguration.fromJson(
                Files.readString(conf.resolve("example-model.json")));
        MultiLayerNetwork start = new MultiLayerNetwork(model);
        start.init();
        Path init = work.resolve("init.zip");
        ModelSerializer.writeModel(start, init.toFile(), false);
        Path output = work.resolve("trained.zip");

        SparkSubmitRun run = SparkSubmitRun.run(CLUSTER, TrainJob.class, List.of("--model",
                conf.resolve("example-model.json").toString(), "--init-from", init.toString(), "--train",
                conf.resolve("example-train.csv").toString(), "--label-column", "4", "--num-classes", "3", "--stages", "2",
                "--micro-batches", "4", "--batch-size", "32", "--epochs", "1", "--output", output.toString()),
                work.resolve("spark-submit.log"), 240);
        String out = run.output();
        System.out.printf("spark-submit TrainJob ran %.1f s%n%s%n", run.seconds(),
                out.lines().filter(l -> l.startsWith("trained ") || l.startsWith("epoch 0 step 0 ")).toList());
        assertTrue(run.ended(), "spark-submit did not end within 240 s:\n" + out);
        assertEquals(0, run.exitCode(), out);
        assertTrue(out.contains("epoch 0 step 17 loss"), "600 rows / 32 = 18 steps must be printed:\n" + out);

        MultiLayerNetwork trained = ModelSerializer.restoreMultiLayerNetwork(output.toFile(), false);
        MultiLayerNetwork reference = start.clone();
        List<DataSet> batches = csvMiniBatches(conf.resolve("example-train.csv"), 32);
        assertEquals(18, batches.size());
        batches.forEach(reference::fit);
        double err = trained.params().sub(reference.params()).norm2Number().doubleValue()
                / reference.params().norm2Number().doubleValue();
        double moved = trained.params().sub(start.params()).norm2Number().doubleValue()
                / start.params().norm2Number().doubleValue();
        System.out.printf("TrainJob model vs DL4J fit: relative error %.3e (float); moved %.3f from the start%n", err, moved);
        assertTrue(moved > 0.01, "training must change the parameters, moved " + moved);
        assertTrue(err < 1e-4, "relative error " + err);
        try (var files = Files.list(work)) {
            assertEquals(List.of(), files.filter(f -> f.getFileName().toString().endsWith(".tmp")).toList(),
                    "no temporary model file may be left behind");
        }
    }

    /** The CSV in file order as float mini-batches (features = columns 0..3, label = column 4, one-hot of 3). */
    static List<DataSet> csvMiniBatches(Path csv, int batchSize) throws Exception {
        List<String> lines = Files.readAllLines(csv);
        List<DataSet> out = new ArrayList<>();
        for (int i = 0; i + batchSize <= lines.size(); i += batchSize) {
            float[][] x = new float[batchSize][4];
            float[][] y = new float[batchSize][3];
            for (int k = 0; k < batchSize; k++) {
                String[] f = lines.get(i + k).split(",");
                for (int j = 0; j < 4; j++) {
                    x[k][j] = (float) Double.parseDouble(f[j]);
                }
                y[k][Integer.parseInt(f[4].trim())] = 1f;
            }
            out.add(new DataSet(Nd4j.createFromArray(x), Nd4j.createFromArray(y)));
        }
        return out;
    }
}
