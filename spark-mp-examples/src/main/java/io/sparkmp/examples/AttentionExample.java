package io.sparkmp.examples;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.EmbeddingSequenceLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.conf.layers.SelfAttentionLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.io.PrintStream;
import java.util.Locale;

/**
 * Example: a small attention model on generated token sequences ({@link TokenSequences}: which class token occurs
 * most often): an EmbeddingSequenceLayer, two multi-head SelfAttentionLayers, average pooling over the sequence,
 * a dense layer and softmax over the 4 classes (Adam, FLOAT), trained pipeline-parallel with the cut between the two
 * attention layers. The sequences are made on the executors from their index. After training it prints the accuracy
 * on sequences it has not seen.
 *
 * <p>{@code mvn -B -q -DskipTests -Pexample-attention package} (embedded local Spark), or
 * {@code spark-submit --class io.sparkmp.examples.AttentionExample <jar> --output attention-model.zip}.
 */
public final class AttentionExample {
    static final int CHUNK = 64;

    static final ExampleJob.Definition DEFINITION = new ExampleJob.Definition("attention",
            "Trains an embedding + self-attention sequence classifier on generated token sequences, pipeline-parallel, "
                    + "the cut between its attention layers",
            new String[][] {
                    {"--examples", "<n>", "training sequences per epoch (default 2048)"},
                    {"--length", "<n>", "tokens per sequence, at least 8 (default 16)"},
                    {"--vocabulary", "<n>", "distinct tokens, more than 4 (default 16)"},
                    {"--width", "<n>", "embedding and attention width, a multiple of 4 heads (default 32)"},
                    {"--test-examples", "<n>", "fresh sequences the trained network is evaluated on (default 512)"},
            }, 3, 32, 4, AttentionExample::fromFlags);

    private AttentionExample() {
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err, null));
    }

    static int run(String[] args, PrintStream out, PrintStream err, SparkSession existing) {
        return ExampleJob.run(DEFINITION, AttentionExample.class.getName(), args, out, err, existing);
    }

    private static ExampleJob.Example fromFlags(Flags f) {
        int width = f.integer("--width", 32, 4);
        if (width % 4 != 0) {
            throw new IllegalArgumentException("--width should be a multiple of 4 (the heads), but was `" + width + "`");
        }
        int vocabulary = f.integer("--vocabulary", 16, TokenSequences.CLASSES + 1);
        return new Tokens(f.integer("--examples", 2048, 1), f.integer("--length", 16, 8), vocabulary, width,
                f.integer("--test-examples", 512, 0), f.longValue("--seed") != null ? f.longValue("--seed") : 42L);
    }

    /** Embedding, self-attention, self-attention, average pooling, dense, softmax. */
    static MultiLayerConfiguration model(int length, int vocabulary, int width, long seed) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(seed).dataType(DataType.FLOAT)
                .updater(new Adam(3e-3)).weightInit(WeightInit.XAVIER).list()
                .layer(new EmbeddingSequenceLayer.Builder().name("embed").nIn(vocabulary).nOut(width).inputLength(length)
                        .build())
                .layer(new SelfAttentionLayer.Builder().name("attn1").nOut(width).nHeads(4).headSize(width / 4)
                        .projectInput(true).build())
                .layer(new SelfAttentionLayer.Builder().name("attn2").nOut(width).nHeads(4).headSize(width / 4)
                        .projectInput(true).build())
                .layer(new GlobalPoolingLayer.Builder(PoolingType.AVG).name("pool").build())
                .layer(new DenseLayer.Builder().name("dense").nOut(width).activation(Activation.RELU).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).name("out")
                        .nOut(TokenSequences.CLASSES).activation(Activation.SOFTMAX).build())
                .setInputType(InputType.recurrent(1, length)).build();
        // setInputType sets the embedding's nIn to the one index per step: it is the vocabulary
        ((EmbeddingSequenceLayer) conf.getConf(0).getLayer()).setNIn(vocabulary);
        return conf;
    }

    /** Accuracy of {@code net} on sequences {@code [first, first + count)}. */
    static double accuracy(MultiLayerNetwork net, long first, int count, int length, int vocabulary, long seed) {
        return ExampleJob.accuracy(net, TokenSequences.CLASSES, first, count, CHUNK,
                (s, n) -> TokenSequences.examples(s, n, length, vocabulary, seed));
    }

    private record Tokens(int examples, int length, int vocabulary, int width, int testExamples, long seed)
            implements ExampleJob.Example {
        @Override
        public MultiLayerConfiguration conf() {
            return model(length, vocabulary, width, seed);
        }

        @Override
        public int[] twoStageSplit() {
            return new int[] {0, 2, 6};
        }

        @Override
        public JavaRDD<DataSet> trainingData(JavaSparkContext sc) {
            int t = length; // locals: the function goes to the executors without this record
            int v = vocabulary;
            long sd = seed;
            return ExampleJob.chunked(sc, 0, examples, CHUNK, (s, n) -> TokenSequences.examples(s, n, t, v, sd));
        }

        @Override
        public void describe(MultiLayerNetwork trained, PrintStream out) {
            if (testExamples > 0) {
                out.printf(Locale.ROOT, "held-out accuracy %.3f on %d new sequences (chance %.2f)%n",
                        accuracy(trained, examples, testExamples, length, vocabulary, seed), testExamples,
                        1.0 / TokenSequences.CLASSES);
            }
        }
    }
}
