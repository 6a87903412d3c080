package io.sparkmp.examples;

import io.sparkmp.model.GraphParameters;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.graph.PoolHelperVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code TrainJob --model graph.json}: a ComputationGraphConfiguration JSON is detected from the file, trained on the
 * example CSV on 2 stages, and {@code --output x.zip} is a DL4J zip that {@code ComputationGraph.load} reads, equal
 * to DL4J's own {@code ComputationGraph.fit} on the same mini-batches (parameters, updater state, score); graphs
 * TrainJob cannot train are bad input before Spark starts.
 */
class TrainJobGraphTest {

    private static SparkSession spark;

    @BeforeAll
    static void start() {
        spark = SparkSession.builder().master("local[2]").appName("TrainJobGraphTest").config("spark.ui.enabled", "false")
                .getOrCreate();
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    private static TrainJobTest.Outcome run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = TrainJob.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8), spark);
        return new TrainJobTest.Outcome(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /** in(4) -> d1 -> d2, add(d1, d2) -> out (softmax 3): a skip connection around d2. */
    static ComputationGraphConfiguration residualMlp() {
        return new NeuralNetConfiguration.Builder().seed(1).dataType(DataType.DOUBLE).updater(new Adam(0.01))
                .activation(Activation.TANH).graphBuilder()
                .addInputs("in").setInputTypes(InputType.feedForward(4))
                .addLayer("d1", new DenseLayer.Builder().nOut(8).build(), "in")
                .addLayer("d2", new DenseLayer.Builder().nOut(8).build(), "d1")
                .addVertex("add", new ElementWiseVertex(ElementWiseVertex.Op.Add), "d1", "d2")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX)
                        .nOut(3).build(), "add")
                .setOutputs("out").build();
    }

    @Test
    void graphJsonTrainsAndItsZipEqualsComputationGraphFit(@TempDir Path dir) throws Exception {
        ComputationGraphConfiguration conf = residualMlp();
        Path json = Files.writeString(dir.resolve("graph.json"), conf.toJson());
        Path csv = TrainJobTest.CONF.resolve("example-train.csv");
        Path zip = dir.resolve("graph.zip");
        int batch = 60;
        TrainJobTest.Outcome o = run("--model", json.toString(), "--train", csv.toString(), "--label-column", "4",
                "--num-classes", "3", "--stages", "2", "--micro-batches", "2", "--schedule", "1f1b", "--batch-size",
                String.valueOf(batch), "--epochs", "1", "--seed", "9", "--output", zip.toString());
        assertEquals(0, o.code(), o.err());
        assertTrue(o.out().contains("trained 10 steps"), o.out());

        ComputationGraph ref = new ComputationGraph(conf.clone());
        ref.init();
        GraphParameters.assign(ref, GraphParameters.initial(conf, 9));
        List<String> lines = Files.readAllLines(csv);
        DataSet last = null;
        for (int from = 0; from + batch <= lines.size(); from += batch) {
            INDArray f = Nd4j.create(DataType.DOUBLE, batch, 4);
            INDArray l = Nd4j.zeros(DataType.DOUBLE, batch, 3);
            for (int i = 0; i < batch; i++) {
                String[] v = lines.get(from + i).split(",");
                for (int j = 0; j < 4; j++) {
                    f.putScalar(i, j, Double.parseDouble(v[j]));
                }
                l.putScalar(i, Integer.parseInt(v[4].strip()), 1.0);
            }
            last = new DataSet(f, l);
            ref.fit(last);
        }
        ComputationGraph got = ComputationGraph.load(zip.toFile(), true);
        assertEquals(10, got.getIterationCount());
        double p = rel(got.params(), ref.params());
        double s = rel(got.getUpdater().getStateViewArray(), ref.getUpdater().getStateViewArray());
        System.out.printf("TrainJob graph zip vs ComputationGraph.fit: parameters %.3g, updater state %.3g%n", p, s);
        assertTrue(p <= 1e-9, "relative parameter error " + p);
        assertTrue(s <= 1e-9, "relative updater-state error " + s);
        double want = ref.score(last);
        assertEquals(want, got.score(last), 1e-9 * want, "the zip scores as DL4J's trained graph");
    }

    private static double rel(INDArray a, INDArray b) {
        return a.sub(b).norm2Number().doubleValue() / b.norm2Number().doubleValue();
    }

    @Test
    void graphsTrainJobCannotTrainAreBadInputBeforeSpark(@TempDir Path dir) throws Exception {
        ComputationGraphConfiguration twoIn = new NeuralNetConfiguration.Builder().graphBuilder()
                .addInputs("a", "b").setInputTypes(InputType.feedForward(2), InputType.feedForward(2))
                .addLayer("da", new DenseLayer.Builder().nOut(2).build(), "a")
                .addLayer("db", new DenseLayer.Builder().nOut(2).build(), "b")
                .addVertex("sum", new ElementWiseVertex(ElementWiseVertex.Op.Add), "da", "db")
                .addLayer("out", new OutputLayer.Builder().nOut(3).activation(Activation.SOFTMAX).build(), "sum")
                .setOutputs("out").build();
        Path zip = dir.resolve("x.zip");
        TrainJobTest.Outcome two = run("--model", Files.writeString(dir.resolve("two.json"), twoIn.toJson()).toString(),
                "--train", TrainJobTest.CONF.resolve("example-train.csv").toString(), "--label-column", "4",
                "--num-classes", "3", "--output", zip.toString());
        TrainJobTest.assertOneLineError(two, "is a graph of inputs [a, b] and outputs [out]", zip);

        ComputationGraphConfiguration helper = new NeuralNetConfiguration.Builder().graphBuilder()
                .addInputs("in").setInputTypes(InputType.convolutional(4, 4, 1))
                .addVertex("poolHelper", new PoolHelperVertex(), "in")
                .addLayer("out", new OutputLayer.Builder().nOut(3).activation(Activation.SOFTMAX).build(), "poolHelper")
                .setOutputs("out").build();
        TrainJobTest.Outcome bad = run("--model", Files.writeString(dir.resolve("h.json"), helper.toJson()).toString(),
                "--train", TrainJobTest.CONF.resolve("example-train.csv").toString(), "--label-column", "4",
                "--num-classes", "3", "--output", zip.toString());
        TrainJobTest.assertOneLineError(bad, "poolHelper", zip);
        assertFalse(Files.exists(zip));
    }
}
