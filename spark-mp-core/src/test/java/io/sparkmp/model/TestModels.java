package io.sparkmp.model;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.DropoutLayer;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.Nesterovs;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * Shared fixtures: the small models and synthetic data the equivalence tests run on, and the DL4J
 * reference training. Public so that the runtime tests reuse them.
 */
public final class TestModels {

    /** Optimizers the equivalence matrix covers; both with L2. */
    public enum Opt {
        ADAM, NESTEROVS;

        IUpdater updater() {
            return this == ADAM ? new Adam(0.01) : new Nesterovs(0.05, 0.9);
        }
    }

    public static final long SEED = 1234L;

    private TestModels() {
    }

    /** MLP 8-16-16-16-3 (4 layers), tanh, softmax + MCXENT. */
    public static MultiLayerConfiguration mlp(DataType type, Opt opt, double dropout) {
        NeuralNetConfiguration.ListBuilder b = new NeuralNetConfiguration.Builder().seed(SEED).dataType(type)
                .updater(opt.updater()).l2(1e-3).activation(Activation.TANH).list();
        for (int i = 0; i < 3; i++) {
            DenseLayer.Builder d = new DenseLayer.Builder().nOut(16);
            if (dropout > 0 && i > 0) {
                d.dropOut(dropout);
            }
            b.layer(d.build());
        }
        b.layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX).nOut(3).build());
        return b.setInputType(InputType.feedForward(8)).build();
    }

    /**
     * MLP with every kind of dropout the stages support: per-layer dropout on two dense layers, a
     * DropoutLayer, 5 layers: dense, dropout layer, dense (dropOut 0.8), dense (dropOut 0.9), softmax.
     */
    public static MultiLayerConfiguration mlpWithDropout(DataType type, Opt opt) {
        return mlpWithDropout(type, opt, true);
    }

    /** {@link #mlpWithDropout(DataType, Opt)}, or the same network with every dropout removed. */
    public static MultiLayerConfiguration mlpWithDropout(DataType type, Opt opt, boolean dropoutOn) {
        DenseLayer.Builder d2 = new DenseLayer.Builder().nOut(16);
        DenseLayer.Builder d3 = new DenseLayer.Builder().nOut(16);
        if (dropoutOn) {
            d2.dropOut(0.8);
            d3.dropOut(0.9);
        }
        return new NeuralNetConfiguration.Builder().seed(SEED).dataType(type)
                .updater(opt.updater()).l2(1e-3).activation(Activation.TANH).list()
                .layer(new DenseLayer.Builder().nOut(16).build())
                .layer(dropoutOn ? new DropoutLayer.Builder(0.7).build() : new DropoutLayer.Builder().build())
                .layer(d2.build())
                .layer(d3.build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX).nOut(3).build())
                .setInputType(InputType.feedForward(8)).build();
    }

    /** LSTM model with input dropout on the second LSTM and the output layer. */
    public static MultiLayerConfiguration lstmWithDropout(DataType type, Opt opt) {
        return new NeuralNetConfiguration.Builder().seed(SEED).dataType(type)
                .updater(opt.updater()).l2(1e-3).activation(Activation.TANH).list()
                .layer(new LSTM.Builder().nOut(6).build())
                .layer(new LSTM.Builder().nOut(6).dropOut(0.8).build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX).nOut(3)
                        .dropOut(0.9).build())
                .setInputType(InputType.recurrent(4, 5)).build();
    }

    /** Tiny CNN on 1x8x8: conv 3x3x4, max-pool 2x2, [batch norm], dense 16, softmax 3. */
    public static MultiLayerConfiguration cnn(DataType type, Opt opt, boolean batchNorm) {
        NeuralNetConfiguration.ListBuilder b = new NeuralNetConfiguration.Builder().seed(SEED).dataType(type)
                .updater(opt.updater()).l2(1e-3).activation(Activation.RELU).list()
                .layer(new ConvolutionLayer.Builder(3, 3).nOut(4).build())
                .layer(new SubsamplingLayer.Builder(SubsamplingLayer.PoolingType.MAX).kernelSize(2, 2).stride(2, 2).build());
        if (batchNorm) {
            b.layer(new BatchNormalization.Builder().build());
        }
        b.layer(new DenseLayer.Builder().nOut(16).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX).nOut(3).build());
        return b.setInputType(InputType.convolutionalFlat(8, 8, 1)).build();
    }

    /** LSTM 4 features, 6 hidden, 5 steps: LSTM, LSTM, RnnOutput (softmax 3). */
    public static MultiLayerConfiguration lstm(DataType type, Opt opt) {
        return new NeuralNetConfiguration.Builder().seed(SEED).dataType(type)
                .updater(opt.updater()).l2(1e-3).activation(Activation.TANH).list()
                .layer(new LSTM.Builder().nOut(6).build())
                .layer(new LSTM.Builder().nOut(6).build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX).nOut(3).build())
                .setInputType(InputType.recurrent(4, 5)).build();
    }

    /**
     * LSTM, dense (time-distributed through DL4J's RnnToFeedForward / FeedForwardToRnn preprocessors),
     * dense, RnnOutput: cuts inside the time-distributed block send 2d activations of examples * T rows.
     */
    public static MultiLayerConfiguration lstmDense(DataType type, Opt opt) {
        return new NeuralNetConfiguration.Builder().seed(SEED).dataType(type)
                .updater(opt.updater()).l2(1e-3).activation(Activation.TANH).list()
                .layer(new LSTM.Builder().nOut(6).build())
                .layer(new DenseLayer.Builder().nOut(5).build())
                .layer(new DenseLayer.Builder().nOut(5).build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX).nOut(3).build())
                .setInputType(InputType.recurrent(4, 5)).build();
    }

    /** Random mini-batches fitting {@code conf}'s kind: features, one-hot labels and, for RNNs, masks. */
    public static List<DataSet> data(String kind, DataType type, int batches, int batchSize, long seed) {
        Random r = new Random(seed);
        List<DataSet> out = new ArrayList<>();
        for (int b = 0; b < batches; b++) {
            switch (kind) {
                case "mlp" -> out.add(new DataSet(rand(r, type, batchSize, 8), oneHot(r, type, batchSize, 3, 0)));
                case "cnn" -> out.add(new DataSet(rand(r, type, batchSize, 64), oneHot(r, type, batchSize, 3, 0)));
                case "lstm" -> {
                    int t = 5;
                    INDArray f = rand(r, type, batchSize, 4 * t).reshape('c', batchSize, 4, t);
                    INDArray l = oneHot(r, type, batchSize, 3, t);
                    // Variable-length sequences: example e has 3..5 valid steps.
                    INDArray mask = Nd4j.zeros(type, batchSize, t);
                    for (int e = 0; e < batchSize; e++) {
                        int len = 3 + r.nextInt(3);
                        for (int s = 0; s < len; s++) {
                            mask.putScalar(e, s, 1.0);
                        }
                    }
                    out.add(new DataSet(f, l, mask, mask.dup()));
                }
                default -> throw new IllegalArgumentException(kind);
            }
        }
        return out;
    }

    private static INDArray rand(Random r, DataType type, int rows, int cols) {
        double[] d = new double[rows * cols];
        for (int i = 0; i < d.length; i++) {
            d[i] = r.nextGaussian();
        }
        return Nd4j.create(d, new long[] {rows, cols}, 'c').castTo(type);
    }

    private static INDArray oneHot(Random r, DataType type, int rows, int classes, int steps) {
        if (steps == 0) {
            INDArray l = Nd4j.zeros(type, rows, classes);
            for (int i = 0; i < rows; i++) {
                l.putScalar(i, r.nextInt(classes), 1.0);
            }
            return l;
        }
        INDArray l = Nd4j.zeros(type, rows, classes, steps);
        for (int i = 0; i < rows; i++) {
            for (int s = 0; s < steps; s++) {
                l.putScalar(new int[] {i, r.nextInt(classes), s}, 1.0);
            }
        }
        return l;
    }

    /** Rows {@code [i * mb, (i + 1) * mb)} of {@code a}: micro-batch {@code i} of {@code mb} examples (a view). */
    public static INDArray rows(INDArray a, int i, int mb) {
        return a.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(i * mb, (i + 1) * mb),
                org.nd4j.linalg.indexing.NDArrayIndex.all());
    }

    /** DL4J's own training: {@code fit} on each mini-batch, from the deterministic initial weights. */
    public static MultiLayerNetwork referenceFit(MultiLayerConfiguration conf, List<DataSet> batches, int epochs,
                                                 List<Double> scores) {
        MultiLayerNetwork net = ModelAssembler.assemble(conf, LayerParameters.initial(conf, SEED));
        for (int e = 0; e < epochs; e++) {
            net.setEpochCount(e);
            for (DataSet ds : batches) {
                net.fit(ds);
                if (scores != null) {
                    scores.add(net.score());
                }
            }
        }
        return net;
    }

    /** Largest relative difference over all layers: max |a - b| / max(max |b|, 1e-300), per layer. */
    public static double maxRelativeError(Map<Integer, INDArray> actual, Map<Integer, INDArray> expected) {
        if (!actual.keySet().equals(expected.keySet())) {
            throw new AssertionError("layers differ: " + actual.keySet() + " vs " + expected.keySet());
        }
        double worst = 0;
        for (Integer k : expected.keySet()) {
            INDArray a = actual.get(k).castTo(DataType.DOUBLE).reshape(actual.get(k).length());
            INDArray b = expected.get(k).castTo(DataType.DOUBLE).reshape(expected.get(k).length());
            double diff = a.sub(b).amaxNumber().doubleValue();
            double scale = Math.max(b.amaxNumber().doubleValue(), 1e-300);
            worst = Math.max(worst, diff / scale);
        }
        return worst;
    }
}
