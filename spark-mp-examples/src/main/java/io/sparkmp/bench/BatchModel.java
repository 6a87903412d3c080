package io.sparkmp.bench;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * The batch-capacity benchmark's model: a small convolutional network on generated single-channel images,
 * whose activations dominate its parameters and its compute: conv 3x3 1-&gt;32 (same padding), max-pool 2x2,
 * softmax over 10 classes (ReLU, Adam, MCXENT). At 24 x 24 pixels it has 46 410 parameters (181 KiB in
 * FLOAT), while one example's conv output alone is 72 KiB and DL4J keeps several arrays of that size per
 * example for the backward; 9 multiply-adds per conv output keep a large batch quick to train.
 */
final class BatchModel {
    static final int CLASSES = 10;
    /** Examples per generated chunk of the spark-mp input. */
    static final int CHUNK = 64;

    private BatchModel() {
    }

    static MultiLayerConfiguration conf(int side, DataType type) {
        if (side < 2 || side % 2 != 0) {
            throw new IllegalArgumentException("side must be a positive multiple of 2, found " + side);
        }
        return new NeuralNetConfiguration.Builder().seed(11).updater(new Adam(1e-3)).dataType(type)
                .activation(Activation.RELU).list()
                .layer(new ConvolutionLayer.Builder(3, 3).name("conv").nOut(32).padding(1, 1).build())
                .layer(new SubsamplingLayer.Builder(SubsamplingLayer.PoolingType.MAX).name("pool").kernelSize(2, 2)
                        .stride(2, 2).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).name("out").nOut(CLASSES)
                        .activation(Activation.SOFTMAX).build())
                .setInputType(InputType.convolutional(side, side, 1)).build();
    }

    /**
     * Examples [first, first + count) of the generated data: uniform random pixels seeded by the example
     * index (so any chunking gives the same examples), label = index mod 10, one-hot.
     */
    static DataSet examples(long first, int count, int side, DataType type) {
        INDArray x = Nd4j.create(type, count, 1, side, side);
        INDArray y = Nd4j.zeros(type, count, CLASSES);
        for (int i = 0; i < count; i++) {
            long e = first + i;
            x.putSlice(i, Nd4j.rand(Nd4j.getRandomFactory().getNewRandomInstance(1_000_003L * e + 17), 1, side, side)
                    .castTo(type));
            y.putScalar(i, (int) (e % CLASSES), 1.0);
        }
        return new DataSet(x, y);
    }
}
