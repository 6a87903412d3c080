package io.sparkmp.examples;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Locale;
import java.util.Random;

/**
 * Writes the bundled sample files deterministically: {@code conf/example-model.json} (a 4-16-16-16-3
 * MLP with Adam) and {@code conf/example-train.csv} (600 rows: 4 Gaussian features around one of 3 class
 * centres, then the class index; no header). Run: {@code java -cp ... io.sparkmp.examples.ExampleFiles conf}.
 */
public final class ExampleFiles {
    static final int ROWS = 600;
    static final int FEATURES = 4;
    static final int CLASSES = 3;

    private ExampleFiles() {
    }

    public static void main(String[] args) throws IOException {
        Path dir = Paths.get(args.length > 0 ? args[0] : "conf");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("example-model.json"), model().toJson(), StandardCharsets.UTF_8);
        Files.writeString(dir.resolve("example-train.csv"), csv(42), StandardCharsets.UTF_8);
    }

    /** The example network: 4 inputs, three tanh layers of 16, softmax over 3 classes; Adam(0.01). */
    static MultiLayerConfiguration model() {
        NeuralNetConfiguration.ListBuilder b = new NeuralNetConfiguration.Builder().seed(42)
                .updater(new Adam(0.01)).weightInit(WeightInit.XAVIER).list();
        int nIn = FEATURES;
        for (int i = 0; i < 3; i++) {
            b.layer(new DenseLayer.Builder().nIn(nIn).nOut(16).activation(Activation.TANH).build());
            nIn = 16;
        }
        return b.layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(nIn).nOut(CLASSES)
                .activation(Activation.SOFTMAX).build()).build();
    }

    /** Rows cycle through the classes; feature j of class c is N(centre[c][j], 0.6). */
    static String csv(long seed) {
        double[][] centres = {{1.5, 0.0, -1.0, 0.5}, {-1.0, 1.5, 0.5, -0.5}, {0.0, -1.5, 1.0, 1.5}};
        Random r = new Random(seed);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < ROWS; i++) {
            int c = r.nextInt(CLASSES);
            for (int j = 0; j < FEATURES; j++) {
                sb.append(String.format(Locale.ROOT, "%.4f,", centres[c][j] + 0.6 * r.nextGaussian()));
            }
            sb.append(c).append('\n');
        }
        return sb.toString();
    }
}
