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
 * Example: the most transformer-like model a DL4J 1.0.0-M2.1 {@code MultiLayerNetwork} can hold, on generated token
 * sequences ({@link TokenSequences}: which class token occurs most often). A token EmbeddingSequenceLayer, then
 * {@code --blocks} encoder blocks, each a multi-head SelfAttentionLayer (projected queries, keys, values and output)
 * and a position-wise feed-forward pair (DenseLayer of 4 x width with ReLU, DenseLayer back to width; DL4J applies
 * a DenseLayer between sequence layers at every step), then average pooling over the sequence and a softmax over
 * the 4 classes (Adam, FLOAT).
 *
 * <p>What a MultiLayerNetwork cannot express, so this model does not have: residual connections (a layer sees only
 * the previous layer's output; a ComputationGraph would be needed), layer normalisation (DL4J has no such layer for a
 * MultiLayerNetwork; BatchNormalization would mix the examples of a batch) and positional encodings (no such layer;
 * this task needs none, since the label depends on token counts only). Trained pipeline-parallel, the cut after the
 * middle block (or the planner's split with {@code --stages P}).
 *
 * <p>{@code mvn -B -q -DskipTests -Pexample-transformer package} (embedded local Spark), or
 * {@code spark-submit --class io.sparkmp.examples.TransformerExample <jar> --output transformer-model.zip}.
 */
public final class TransformerExample {
    static final int CHUNK = 64;

    static final ExampleJob.Definition DEFINITION = new ExampleJob.Definition("transformer",
            "Trains a transformer-like encoder (embedding, blocks of self-attention + feed-forward, pooling, softmax) on "
                    + "generated token sequences, pipeline-parallel, the cut after its middle block",
            new String[][] {
                    {"--examples", "<n>", "training sequences per epoch (default 2048)"},
                    {"--length", "<n>", "tokens per sequence, at least 8 (default 16)"},
                    {"--vocabulary", "<n>", "distinct tokens, more than 4 (default 16)"},
                    {"--width", "<n>", "embedding and attention width, a multiple of --heads (default 32)"},
                    {"--heads", "<n>", "attention heads per block (default 4)"},
                    {"--blocks", "<n>", "encoder blocks, at least 2 (default 4)"},
                    {"--test-examples", "<n>", "fresh sequences the trained network is evaluated on (default 512)"},
            }, 3, 32, 4, TransformerExample::fromFlags);

    private TransformerExample() {
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err, null));
    }

    static int run(String[] args, PrintStream out, PrintStream err, SparkSession existing) {
        return ExampleJob.run(DEFINITION, TransformerExample.class.getName(), args, out, err, existing);
    }

    private static ExampleJob.Example fromFlags(Flags f) {
        int heads = f.integer("--heads", 4, 1);
        int width = f.integer("--width", 32, heads);
        if (width % heads != 0) {
            throw new IllegalArgumentException("--width should be a multiple of --heads (" + heads + "), but was `"
                    + width + "`");
        }
        int blocks = f.integer("--blocks", 4, 2);
        int vocabulary = f.integer("--vocabulary", 16, TokenSequences.CLASSES + 1);
        return new Tokens(f.integer("--examples", 2048, 1), f.integer("--length", 16, 8), vocabulary, width, heads,
                blocks, f.integer("--test-examples", 512, 0), f.longValue("--seed") != null ? f.longValue("--seed") : 42L);
    }

    /** Layers of the model: the embedding, 3 per block, pooling and output. */
    static int layers(int blocks) {
        return 1 + 3 * blocks + 2;
    }

    /** Embedding, {@code blocks} x (self-attention, dense 4 x width ReLU, dense width), average pooling, softmax. */
    public static MultiLayerConfiguration model(int length, int vocabulary, int width, int heads, int blocks, long seed) {
        NeuralNetConfiguration.ListBuilder b = new NeuralNetConfiguration.Builder().seed(seed).dataType(DataType.FLOAT)
                .updater(new Adam(1e-3)).weightInit(WeightInit.XAVIER).list()
                .layer(new EmbeddingSequenceLayer.Builder().name("embed").nIn(vocabulary).nOut(width).inputLength(length)
                        .build());
        for (int k = 0; k < blocks; k++) {
            b.layer(new SelfAttentionLayer.Builder().name("attn" + k).nOut(width).nHeads(heads).headSize(width / heads)
                            .projectInput(true).build())
                    .layer(new DenseLayer.Builder().name("ffn" + k + "_up").nOut(4 * width).activation(Activation.RELU)
                            .build())
                    .layer(new DenseLayer.Builder().name("ffn" + k + "_down").nOut(width).activation(Activation.IDENTITY)
                            .build());
        }
        MultiLayerConfiguration conf = b.layer(new GlobalPoolingLayer.Builder(PoolingType.AVG).name("pool").build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).name("out")
                        .nOut(TokenSequences.CLASSES).activation(Activation.SOFTMAX).build())
                .setInputType(InputType.recurrent(1, length)).build();
        // setInputType sets the embedding's nIn to the one index per step: it is the vocabulary
        ((EmbeddingSequenceLayer) conf.getConf(0).getLayer()).setNIn(vocabulary);
        return conf;
    }

    /** Token sequences {@code [first, first + count)} of the example's task. */
    public static DataSet examples(long first, int count, int length, int vocabulary, long seed) {
        return TokenSequences.examples(first, count, length, vocabulary, seed);
    }

    /** Accuracy of {@code net} on sequences {@code [first, first + count)}. */
    static double accuracy(MultiLayerNetwork net, long first, int count, int length, int vocabulary, long seed) {
        return ExampleJob.accuracy(net, TokenSequences.CLASSES, first, count, CHUNK,
                (s, n) -> TokenSequences.examples(s, n, length, vocabulary, seed));
    }

    private record Tokens(int examples, int length, int vocabulary, int width, int heads, int blocks, int testExamples,
                          long seed) implements ExampleJob.Example {
        @Override
        public MultiLayerConfiguration conf() {
            return model(length, vocabulary, width, heads, blocks, seed);
        }

        @Override
        public int[] twoStageSplit() {
            return new int[] {0, 1 + 3 * (blocks / 2), layers(blocks)};
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
            out.printf(Locale.ROOT, "model: %d blocks of %d-head self-attention + feed-forward %d-%d-%d, %d parameters "
                    + "(no residuals, layer norm or positional encoding: a MultiLayerNetwork has none)%n", blocks, heads,
                    width, 4 * width, width, trained.numParams());
            if (testExamples > 0) {
                out.printf(Locale.ROOT, "held-out accuracy %.3f on %d new sequences (chance %.2f)%n",
                        accuracy(trained, examples, testExamples, length, vocabulary, seed), testExamples,
                        1.0 / TokenSequences.CLASSES);
            }
        }
    }
}
