package io.sparkmp.examples;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.conf.GradientNormalization;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.io.PrintStream;
import java.nio.file.Paths;
import java.util.Locale;
import java.util.Random;

/**
 * Example: a character-level language model, two stacked LSTMs and a softmax over the characters at every step,
 * trained pipeline-parallel with the cut inside the recurrent stack (stage 0 the first LSTM, stage 1 the second and
 * the output layer) on a bundled public-domain text ({@link CharText#BUNDLED}, about 4 KiB, inside the jar; nothing is
 * downloaded) or on {@code --text <file>}. After training it prints the model's loss per character on the text and
 * a sample of text it writes, one character at a time, from a seeded random stream.
 *
 * <p>{@code mvn -B -q -DskipTests -Pexample-lstm package} (embedded local Spark), or
 * {@code spark-submit --class io.sparkmp.examples.CharLstmExample <jar> --output lstm-model.zip}; {@code --help}
 * lists the flags.
 */
public final class CharLstmExample {
    /** Sequences per generated DataSet. */
    static final int CHUNK = 32;

    static final ExampleJob.Definition DEFINITION = new ExampleJob.Definition("lstm",
            "Trains a character-level LSTM language model on a bundled text, pipeline-parallel, the cut between its LSTMs",
            new String[][] {
                    {"--text", "<file>", "UTF-8 text to learn (default: the bundled public-domain excerpts)"},
                    {"--hidden", "<n>", "units of each LSTM (default 64)"},
                    {"--sequence-length", "<n>", "characters per training sequence (default 32)"},
                    {"--stride", "<n>", "characters between the starts of consecutive sequences (default 8)"},
                    {"--sample", "<n>", "characters of text the trained model writes (default 200; 0: none)"},
            }, 10, 32, 4, CharLstmExample::fromFlags);

    private CharLstmExample() {
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err, null));
    }

    static int run(String[] args, PrintStream out, PrintStream err, SparkSession existing) {
        return ExampleJob.run(DEFINITION, CharLstmExample.class.getName(), args, out, err, existing);
    }

    private static ExampleJob.Example fromFlags(Flags f) {
        CharText text = CharText.of(CharText.read(f.has("--text") ? Paths.get(f.get("--text")) : null),
                f.integer("--sequence-length", 32, 2), f.integer("--stride", 8, 1));
        long seed = f.longValue("--seed") != null ? f.longValue("--seed") : 42L;
        return new Language(text, f.integer("--hidden", 64, 1), f.integer("--sample", 200, 0), seed);
    }

    /** The network: LSTM, LSTM, softmax over the vocabulary at every step (Adam, gradients clipped per layer). */
    static MultiLayerConfiguration model(int vocabulary, int hidden, long seed) {
        return new NeuralNetConfiguration.Builder().seed(seed).dataType(DataType.FLOAT).updater(new Adam(1e-2))
                .weightInit(WeightInit.XAVIER).gradientNormalization(GradientNormalization.ClipElementWiseAbsoluteValue)
                .gradientNormalizationThreshold(1.0).list()
                .layer(new LSTM.Builder().name("lstm1").nOut(hidden).activation(Activation.TANH).build())
                .layer(new LSTM.Builder().name("lstm2").nOut(hidden).activation(Activation.TANH).build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MCXENT).name("out").nOut(vocabulary)
                        .activation(Activation.SOFTMAX).build())
                .setInputType(InputType.recurrent(vocabulary)).build();
    }

    /** Mean loss per character (nats) of {@code net} over every sequence of {@code text}. */
    static double lossPerCharacter(MultiLayerNetwork net, CharText text) {
        double sum = 0;
        for (int s = 0; s < text.sequences(); s += CHUNK) {
            DataSet ds = text.examples(s, Math.min(CHUNK, text.sequences() - s));
            sum += net.score(ds, false) * ds.numExamples(); // DL4J's score: summed over the steps, mean over examples
        }
        return sum / ((double) text.sequences() * text.length());
    }

    /**
     * {@code count} characters written by {@code net} after reading {@code prompt}: each drawn from the model's
     * distribution over the next character, from a {@link Random} seeded by {@code seed}.
     */
    static String sample(MultiLayerNetwork net, CharText text, String prompt, int count, long seed) {
        net.rnnClearPreviousState();
        INDArray p = null;
        for (char c : prompt.toCharArray()) {
            p = net.rnnTimeStep(text.step(c));
        }
        Random r = new Random(seed);
        StringBuilder sb = new StringBuilder(prompt);
        for (int i = 0; i < count; i++) {
            double u = r.nextDouble();
            int next = 0;
            for (double cum = p.getDouble(0, 0); cum < u && next < text.vocabulary().length() - 1; ) {
                next++;
                cum += p.getDouble(0, next);
            }
            char c = text.vocabulary().charAt(next);
            sb.append(c);
            p = net.rnnTimeStep(text.step(c));
        }
        net.rnnClearPreviousState();
        return sb.toString();
    }

    private record Language(CharText text, int hidden, int sampleChars, long seed) implements ExampleJob.Example {
        @Override
        public MultiLayerConfiguration conf() {
            return model(text.vocabulary().length(), hidden, seed);
        }

        @Override
        public int[] twoStageSplit() {
            return new int[] {0, 1, 3};
        }

        @Override
        public JavaRDD<DataSet> trainingData(JavaSparkContext sc) {
            CharText t = text; // a local: the function goes to the executors without this record
            return ExampleJob.chunked(sc, 0, t.sequences(), CHUNK, (s, n) -> t.examples((int) s, n));
        }

        /** Consecutive sequences overlap and follow the text: mini-batches of them in a random order train faster. */
        @Override
        public boolean shuffle() {
            return true;
        }

        @Override
        public void describe(MultiLayerNetwork trained, PrintStream out) {
            out.printf(Locale.ROOT, "loss per character %.4f nats on the %d sequences of %d characters (uniform over the "
                            + "%d characters: %.4f)%n", lossPerCharacter(trained, text), text.sequences(), text.length(),
                    text.vocabulary().length(), Math.log(text.vocabulary().length()));
            if (sampleChars > 0) {
                String prompt = text.text().substring(0, Math.min(8, text.text().length()));
                out.println("sample: " + sample(trained, text, prompt, sampleChars, seed));
            }
        }
    }
}
