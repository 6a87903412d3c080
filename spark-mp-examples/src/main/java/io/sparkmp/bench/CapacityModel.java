package io.sparkmp.bench;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.ArrayList;
import java.util.List;

/**
 * The capacity benchmark's model family: an MLP 784-W x hidden-10 (ReLU, softmax/MCXENT, Adam, FLOAT). All but
 * the first hidden layer are W x W, so with 9 hidden layers the 8 equal W x W layers split evenly over 2 or 4
 * stages; parameters grow as W squared.
 */
final class CapacityModel {
    static final int INPUT = 784;
    static final int CLASSES = 10;
    static final int BATCH = 64;

    private CapacityModel() {
    }

    static MultiLayerConfiguration conf(int width, int hidden) {
        requireShape(width, hidden);
        NeuralNetConfiguration.ListBuilder b = new NeuralNetConfiguration.Builder().seed(7).updater(new Adam(1e-3))
                .dataType(DataType.FLOAT).list();
        for (int i = 0; i < hidden; i++) {
            b.layer(new DenseLayer.Builder().name("h" + i).nIn(i == 0 ? INPUT : width).nOut(width)
                    .activation(Activation.RELU).build());
        }
        return b.layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).name("out").nIn(width).nOut(CLASSES)
                .activation(Activation.SOFTMAX).build()).build();
    }

    /** Trainable parameters of {@link #conf(int, int)}, weights and biases, without building it. */
    static long parameters(int width, int hidden) {
        requireShape(width, hidden);
        long w = width;
        return (INPUT + 1) * w + (hidden - 1) * (w * w + w) + (w + 1) * CLASSES;
    }

    /** Layers of {@link #conf(int, int)}: the hidden layers and the output layer. */
    static int layers(int hidden) {
        return hidden + 1;
    }

    /** {@code steps} mini-batches of {@link #BATCH} uniform random inputs with one-hot labels, made here. */
    static List<DataSet> data(int steps) {
        Nd4j.getRandom().setSeed(5);
        List<DataSet> out = new ArrayList<>();
        for (int s = 0; s < steps; s++) {
            INDArray x = Nd4j.rand(DataType.FLOAT, BATCH, INPUT);
            INDArray y = Nd4j.zeros(DataType.FLOAT, BATCH, CLASSES);
            for (int i = 0; i < BATCH; i++) {
                y.putScalar(i, (s * BATCH + i) % CLASSES, 1f);
            }
            out.add(new DataSet(x, y));
        }
        return out;
    }

    private static void requireShape(int width, int hidden) {
        if (width <= 0 || hidden <= 0) {
            throw new IllegalArgumentException("width and hidden must be positive, found " + width + " and " + hidden);
        }
    }
}
