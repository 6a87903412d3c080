package io.sparkmp.model;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Supplier;

import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.*;
import org.deeplearning4j.nn.conf.layers.convolutional.Cropping1D;
import org.deeplearning4j.nn.conf.layers.convolutional.Cropping2D;
import org.deeplearning4j.nn.conf.layers.convolutional.Cropping3D;
import org.deeplearning4j.nn.conf.layers.misc.ElementWiseMultiplicationLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.conf.layers.misc.RepeatVector;
import org.deeplearning4j.nn.conf.layers.recurrent.Bidirectional;
import org.deeplearning4j.nn.conf.layers.recurrent.LastTimeStep;
import org.deeplearning4j.nn.conf.layers.recurrent.SimpleRnn;
import org.deeplearning4j.nn.conf.layers.util.MaskZeroLayer;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions.LossFunction;

/**
 * One small model per DL4J layer family, each with the layer under test between other layers, for the per-layer
 * equivalence tests: {@link Case#under} is the index of the layer under test, so cuts on both of its sides are
 * {@code {0, under, under + 1, layers}}. Data kinds: {@code ff} (8 features, 3 classes), {@code cnn} (2x6x6),
 * {@code cnn3d} (2x4x4x4), {@code rnn} (3 features x 6 steps, per-step labels, variable-length masks),
 * {@code rnnLast} (the same sequences with masks, one label per sequence), {@code rnnNoMask} (one label per
 * sequence, full length), {@code rnnFull} (per-step labels, full length, no masks), {@code index} (one index column in [0, 10)), {@code seqIndex} (6 indices per
 * example, per-step labels, masks), {@code ffToRnn} (8 features, 4 steps of labels), {@code cnnLoss} (2x6x6,
 * per-pixel labels).
 */
public final class LayerCases {

    /** A model with the layer under test at {@code under}, and the data it trains on. */
    public record Case(String name, String data, int under, Supplier<MultiLayerConfiguration> conf) {
        public MultiLayerConfiguration build() {
            return conf.get();
        }

        /** Cuts with a stage boundary on each side of the layer under test (where it has sides). */
        public int[] cutsAround() {
            int n = build().getConfs().size();
            List<Integer> b = new ArrayList<>(List.of(0));
            if (under > 0) {
                b.add(under);
            }
            if (under + 1 < n) {
                b.add(under + 1);
            }
            b.add(n);
            return b.stream().mapToInt(Integer::intValue).toArray();
        }

        @Override
        public String toString() {
            return name;
        }
    }

    private LayerCases() {
    }

    private static NeuralNetConfiguration.ListBuilder base(Activation act) {
        return new NeuralNetConfiguration.Builder().seed(TestModels.SEED).dataType(DataType.DOUBLE)
                .updater(new Adam(0.01)).l2(1e-3).activation(act).convolutionMode(ConvolutionMode.Same).list();
    }

    private static OutputLayer out() {
        return new OutputLayer.Builder(LossFunction.MCXENT).activation(Activation.SOFTMAX).nOut(3).build();
    }

    private static RnnOutputLayer rnnOut() {
        return new RnnOutputLayer.Builder(LossFunction.MCXENT).activation(Activation.SOFTMAX).nOut(3).build();
    }

    private static DenseLayer dense(int n) {
        return new DenseLayer.Builder().nOut(n).build();
    }

    private static ConvolutionLayer conv(int n) {
        return new ConvolutionLayer.Builder(2, 2).nOut(n).build();
    }

    private static Convolution3D conv3d(int n) {
        return new Convolution3D.Builder().kernelSize(2, 2, 2).nOut(n).convolutionMode(ConvolutionMode.Same).build();
    }

    private static LSTM lstm(int n) {
        return new LSTM.Builder().nOut(n).build();
    }

    private static Case ff(String name, Layer l) {
        return new Case(name, "ff", 1, () -> base(Activation.TANH).layer(dense(8)).layer(l.clone()).layer(dense(6))
                .layer(out()).setInputType(InputType.feedForward(8)).build());
    }

    private static Case cnn(String name, Layer l) {
        return new Case(name, "cnn", 1, () -> base(Activation.TANH).layer(conv(3)).layer(l.clone()).layer(conv(2))
                .layer(out()).setInputType(InputType.convolutional(6, 6, 2)).build());
    }

    private static Case cnn3d(String name, Layer l) {
        return new Case(name, "cnn3d", 1, () -> base(Activation.TANH).layer(conv3d(2)).layer(l.clone()).layer(conv3d(2))
                .layer(out()).setInputType(InputType.convolutional3D(4, 4, 4, 2)).build());
    }

    /** LSTM, the layer, LSTM, RnnOutput on masked variable-length sequences. */
    private static Case rnn(String name, Layer l) {
        return new Case(name, "rnn", 1, () -> base(Activation.TANH).layer(lstm(4)).layer(l.clone()).layer(lstm(4))
                .layer(rnnOut()).setInputType(InputType.recurrent(3, 6)).build());
    }

    /** LSTM, the layer, LSTM, global average pooling, output: one label per sequence. */
    private static Case rnnPooled(String name, String data, Layer l) {
        return new Case(name, data, 1, () -> base(Activation.TANH).layer(lstm(4)).layer(l.clone()).layer(lstm(4))
                .layer(new GlobalPoolingLayer.Builder(PoolingType.AVG).build()).layer(out())
                .setInputType(InputType.recurrent(3, 6)).build());
    }

    /** Every supported layer family of DL4J 1.0.0-M2.1 that the equivalence matrix trains. */
    public static List<Case> all() {
        List<Case> c = new ArrayList<>();
        // feed-forward
        c.add(ff("DenseLayer", dense(5)));
        c.add(ff("ActivationLayer", new ActivationLayer.Builder().activation(Activation.ELU).build()));
        c.add(ff("PReLULayer", new PReLULayer.Builder().inputShape(8).build()));
        c.add(ff("ElementWiseMultiplicationLayer", new ElementWiseMultiplicationLayer.Builder().nOut(8).build()));
        c.add(ff("BatchNormalization (M = 1 only: see DropoutAndBatchNormTest)", new BatchNormalization.Builder().build()));
        // No setInputType: it would set the embedding's nIn (the vocabulary size) to the input width, 1.
        c.add(new Case("EmbeddingLayer", "index", 0, () -> base(Activation.TANH)
                .layer(new EmbeddingLayer.Builder().nIn(10).nOut(5).build()).layer(new DenseLayer.Builder().nIn(5).nOut(6).build())
                .layer(new OutputLayer.Builder(LossFunction.MCXENT).activation(Activation.SOFTMAX).nIn(6).nOut(3).build())
                .build()));
        c.add(ff("FrozenLayerWithBackprop", new FrozenLayerWithBackprop(dense(6))));
        // Frozen bottom layers, as TransferLearning's feature extractor makes them: the stage that starts with the
        // second frozen layer sends zeros back (a FrozenLayer returns no input gradient).
        c.add(new Case("FrozenLayer (frozen bottom layers)", "ff", 1, () -> base(Activation.TANH)
                .layer(new FrozenLayer(dense(8))).layer(new FrozenLayer(dense(6))).layer(dense(6)).layer(out())
                .setInputType(InputType.feedForward(8)).build()));
        c.add(new Case("LossLayer", "ff", 2, () -> base(Activation.TANH).layer(dense(8))
                .layer(new DenseLayer.Builder().nOut(3).activation(Activation.SOFTMAX).build())
                .layer(new LossLayer.Builder(LossFunction.MCXENT).activation(Activation.IDENTITY).build())
                .setInputType(InputType.feedForward(8)).build()));
        c.add(new Case("RepeatVector", "ffToRnn", 1, () -> base(Activation.TANH).layer(dense(5))
                .layer(new RepeatVector.Builder(4).build()).layer(lstm(4)).layer(rnnOut())
                .setInputType(InputType.feedForward(8)).build()));
        // 2d convolutional
        c.add(cnn("ConvolutionLayer", new ConvolutionLayer.Builder(3, 3).nOut(3).build()));
        c.add(cnn("Convolution2D", new Convolution2D.Builder(2, 2).nOut(3).build()));
        c.add(cnn("Deconvolution2D", new Deconvolution2D.Builder(2, 2).nOut(3).build()));
        c.add(cnn("DepthwiseConvolution2D", new DepthwiseConvolution2D.Builder(2, 2).depthMultiplier(2).build()));
        c.add(cnn("SeparableConvolution2D", new SeparableConvolution2D.Builder(2, 2).nOut(3).build()));
        c.add(cnn("SubsamplingLayer (max)", new SubsamplingLayer.Builder(PoolingType.MAX).kernelSize(2, 2).stride(2, 2).build()));
        c.add(cnn("SubsamplingLayer (pnorm)", new SubsamplingLayer.Builder(PoolingType.PNORM).pnorm(2).kernelSize(2, 2)
                .stride(1, 1).build()));
        c.add(cnn("Upsampling2D", new Upsampling2D.Builder(2).build()));
        c.add(cnn("ZeroPaddingLayer", new ZeroPaddingLayer.Builder(1, 1).build()));
        c.add(cnn("Cropping2D", new Cropping2D.Builder(1, 1).build()));
        c.add(cnn("SpaceToDepthLayer", new SpaceToDepthLayer.Builder(2).build()));
        c.add(cnn("LocalResponseNormalization", new LocalResponseNormalization.Builder().build()));
        c.add(cnn("LocallyConnected2D", new LocallyConnected2D.Builder().kernelSize(2, 2).nOut(2)
                .convolutionMode(ConvolutionMode.Same).build()));
        c.add(new Case("GlobalPoolingLayer (cnn, max)", "cnn", 1, () -> base(Activation.TANH).layer(conv(3))
                .layer(new GlobalPoolingLayer.Builder(PoolingType.MAX).build()).layer(dense(5)).layer(out())
                .setInputType(InputType.convolutional(6, 6, 2)).build()));
        c.add(new Case("CnnLossLayer", "cnnLoss", 2, () -> base(Activation.TANH).layer(conv(3))
                .layer(new ConvolutionLayer.Builder(2, 2).nOut(3).activation(Activation.SOFTMAX).build())
                .layer(new CnnLossLayer.Builder(LossFunction.MCXENT).activation(Activation.IDENTITY).build())
                .setInputType(InputType.convolutional(6, 6, 2)).build()));
        // 3d convolutional
        c.add(cnn3d("Convolution3D", conv3d(3)));
        c.add(cnn3d("Deconvolution3D", new Deconvolution3D.Builder().kernelSize(2, 2, 2).nOut(2)
                .convolutionMode(ConvolutionMode.Same).build()));
        c.add(cnn3d("Subsampling3DLayer", new Subsampling3DLayer.Builder(PoolingType.MAX, new int[] {2, 2, 2})
                .stride(2, 2, 2).build()));
        c.add(cnn3d("Upsampling3D", new Upsampling3D.Builder(2).build()));
        c.add(cnn3d("ZeroPadding3DLayer", new ZeroPadding3DLayer.Builder(1).build()));
        c.add(cnn3d("Cropping3D", new Cropping3D.Builder(1, 1, 1).build()));
        // recurrent, masked sequences of different lengths in every mini-batch
        c.add(rnn("LSTM", lstm(5)));
        c.add(rnn("GravesLSTM", new GravesLSTM.Builder().nOut(5).build()));
        c.add(rnn("SimpleRnn", new SimpleRnn.Builder().nOut(5).build()));
        c.add(rnn("Bidirectional (LSTM, concat)", new Bidirectional(lstm(3))));
        c.add(rnn("GravesBidirectionalLSTM", new GravesBidirectionalLSTM.Builder().nOut(3).build()));
        c.add(rnn("MaskZeroLayer (LSTM)", new MaskZeroLayer.Builder().setUnderlying(lstm(4)).setMaskValue(0.0).build()));
        c.add(rnn("Convolution1DLayer (same)", new Convolution1DLayer.Builder(2).nOut(4).build()));
        c.add(rnn("SelfAttentionLayer", new SelfAttentionLayer.Builder().nHeads(2).headSize(3).nOut(4).projectInput(true).build()));
        c.add(rnn("RecurrentAttentionLayer", new RecurrentAttentionLayer.Builder().nHeads(1).headSize(4).nOut(4).projectInput(true).build()));
        // Unmasked sequences only: with a features mask DL4J 1.0.0-M2.1's TimeDistributed mixes the examples' masks
        // (LayerSupportTest#timeDistributedWithAMaskMixesExamplesInDl4jsOwnFit), so the stage refuses a mask there.
        c.add(new Case("TimeDistributed (DenseLayer, unmasked)", "rnnFull", 1, () -> base(Activation.TANH).layer(lstm(4))
                .layer(new org.deeplearning4j.nn.conf.layers.recurrent.TimeDistributed(dense(5))).layer(lstm(4))
                .layer(rnnOut()).setInputType(InputType.recurrent(3, 6)).build()));
        c.add(rnn("LocallyConnected1D", new LocallyConnected1D.Builder().kernelSize(2).nOut(3)
                .convolutionMode(ConvolutionMode.Same).build()));
        c.add(rnnPooled("Convolution1DLayer (truncate)", "rnnNoMask", new Convolution1DLayer.Builder(2).nOut(4)
                .convolutionMode(ConvolutionMode.Truncate).build()));
        c.add(rnnPooled("Subsampling1DLayer (stride 2)", "rnnNoMask", new Subsampling1DLayer.Builder(PoolingType.MAX)
                .kernelSize(2).stride(2).convolutionMode(ConvolutionMode.Truncate).build()));
        c.add(rnnPooled("Upsampling1D", "rnnNoMask", new Upsampling1D.Builder(2).build()));
        c.add(rnnPooled("ZeroPadding1DLayer", "rnnNoMask", new ZeroPadding1DLayer.Builder(1).build()));
        c.add(rnnPooled("Cropping1D", "rnnNoMask", new Cropping1D.Builder(1).build()));
        c.add(new Case("LastTimeStep (LSTM)", "rnnLast", 1, () -> base(Activation.TANH).layer(lstm(4))
                .layer(new LastTimeStep(lstm(4))).layer(dense(5)).layer(out()).setInputType(InputType.recurrent(3, 6)).build()));
        c.add(new Case("GlobalPoolingLayer (rnn, avg)", "rnnLast", 1, () -> base(Activation.TANH).layer(lstm(4))
                .layer(new GlobalPoolingLayer.Builder(PoolingType.AVG).build()).layer(dense(5)).layer(out())
                .setInputType(InputType.recurrent(3, 6)).build()));
        c.add(new Case("RnnLossLayer", "rnn", 2, () -> base(Activation.TANH).layer(lstm(4))
                .layer(new LSTM.Builder().nOut(3).activation(Activation.SOFTMAX).build())
                .layer(new RnnLossLayer.Builder(LossFunction.MCXENT).activation(Activation.IDENTITY).build())
                .setInputType(InputType.recurrent(3, 6)).build()));
        c.add(new Case("EmbeddingSequenceLayer", "seqIndex", 0, () -> {
            MultiLayerConfiguration conf = base(Activation.TANH)
                    .layer(new EmbeddingSequenceLayer.Builder().nIn(10).nOut(4).inputLength(6).build()).layer(lstm(4))
                    .layer(rnnOut()).setInputType(InputType.recurrent(1, 6)).build();
            // setInputType set the vocabulary size (nIn) to the input's 1 value per step: put it back.
            ((EmbeddingSequenceLayer) conf.getConf(0).getLayer()).setNIn(10);
            return conf;
        }));
        return c;
    }

    /** Random mini-batches of the data kind {@code kind} (see the class comment). */
    public static List<DataSet> data(String kind, int batches, int batchSize, long seed) {
        Random r = new Random(seed);
        List<DataSet> out = new ArrayList<>();
        for (int b = 0; b < batches; b++) {
            int n = batchSize;
            out.add(switch (kind) {
                case "ff" -> new DataSet(gauss(r, n, 8), oneHot(r, n, 3));
                case "cnn" -> new DataSet(gauss(r, n, 2, 6, 6), oneHot(r, n, 3));
                case "cnn3d" -> new DataSet(gauss(r, n, 2, 4, 4, 4), oneHot(r, n, 3));
                case "cnnLoss" -> new DataSet(gauss(r, n, 2, 6, 6), perPosition(r, n, 3, 6, 6));
                case "index" -> new DataSet(indices(r, n, 1), oneHot(r, n, 3));
                case "ffToRnn" -> new DataSet(gauss(r, n, 8), perPosition(r, n, 3, 4));
                case "rnn" -> {
                    INDArray mask = lengths(r, n, 6);
                    yield new DataSet(gauss(r, n, 3, 6), perPosition(r, n, 3, 6), mask, mask.dup());
                }
                case "rnnLast" -> new DataSet(gauss(r, n, 3, 6), oneHot(r, n, 3), lengths(r, n, 6), null);
                case "rnnNoMask" -> new DataSet(gauss(r, n, 3, 6), oneHot(r, n, 3));
                case "rnnFull" -> new DataSet(gauss(r, n, 3, 6), perPosition(r, n, 3, 6));
                case "seqIndex" -> {
                    INDArray mask = lengths(r, n, 6);
                    yield new DataSet(indices(r, n, 6), perPosition(r, n, 3, 6), mask, mask.dup());
                }
                default -> throw new IllegalArgumentException(kind);
            });
        }
        return out;
    }

    static INDArray gauss(Random r, long... shape) {
        long total = 1;
        for (long s : shape) {
            total *= s;
        }
        double[] d = new double[Math.toIntExact(total)];
        for (int i = 0; i < d.length; i++) {
            d[i] = r.nextGaussian();
        }
        return Nd4j.create(d, shape, 'c');
    }

    private static INDArray indices(Random r, int rows, int cols) {
        INDArray a = Nd4j.zeros(DataType.DOUBLE, rows, cols);
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                a.putScalar(i, j, r.nextInt(10));
            }
        }
        return a;
    }

    /** Example e has 3..steps valid steps: sequences of different lengths in one mini-batch. */
    private static INDArray lengths(Random r, int rows, int steps) {
        INDArray mask = Nd4j.zeros(DataType.DOUBLE, rows, steps);
        for (int e = 0; e < rows; e++) {
            int len = 3 + r.nextInt(steps - 2);
            for (int s = 0; s < len; s++) {
                mask.putScalar(e, s, 1.0);
            }
        }
        return mask;
    }

    static INDArray oneHot(Random r, int rows, int classes) {
        INDArray l = Nd4j.zeros(DataType.DOUBLE, rows, classes);
        for (int i = 0; i < rows; i++) {
            l.putScalar(i, r.nextInt(classes), 1.0);
        }
        return l;
    }

    /** One-hot over dimension 1 at every position of {@code positions} (time steps or pixels). */
    private static INDArray perPosition(Random r, int rows, int classes, int... positions) {
        long[] shape = new long[2 + positions.length];
        shape[0] = rows;
        shape[1] = classes;
        int count = 1;
        for (int i = 0; i < positions.length; i++) {
            shape[2 + i] = positions[i];
            count *= positions[i];
        }
        INDArray l = Nd4j.zeros(DataType.DOUBLE, shape);
        INDArray flat = l.reshape('c', rows, classes, count);
        for (int i = 0; i < rows; i++) {
            for (int p = 0; p < count; p++) {
                flat.putScalar(new long[] {i, r.nextInt(classes), p}, 1.0);
            }
        }
        return flat.reshape('c', shape);
    }
}
