package io.sparkmp.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.io.IOException;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import io.sparkmp.model.LayerParameters;

/** The small model, data and store writing the store tests share. */
final class StoreFixtures {

    static final long SEED = 42;

    private StoreFixtures() {
    }

    static MultiLayerConfiguration mlp(DataType type, IUpdater updater, int hidden) {
        return new NeuralNetConfiguration.Builder().seed(SEED).dataType(type).updater(updater).list()
                .layer(new DenseLayer.Builder().nIn(4).nOut(hidden).activation(Activation.TANH).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(hidden).nOut(3)
                        .activation(Activation.SOFTMAX).build())
                .build();
    }

    static DataSet data(DataType type, long seed) {
        Nd4j.getRandom().setSeed(seed);
        INDArray x = Nd4j.rand(DataType.DOUBLE, 8, 4).castTo(type);
        INDArray y = Nd4j.zeros(type, 8, 3);
        for (int i = 0; i < 8; i++) {
            y.putScalar(i, i % 3, 1.0);
        }
        return new DataSet(x, y);
    }

    /** A seeded 4-5-3 MLP after {@code steps} fit steps. */
    static MultiLayerNetwork trained(DataType type, IUpdater updater, int steps) {
        MultiLayerNetwork net = new MultiLayerNetwork(mlp(type, updater, 5));
        net.init();
        for (int s = 0; s < steps; s++) {
            net.fit(data(type, 100 + s));
        }
        return net;
    }

    static Configuration hadoop() {
        return new Configuration();
    }

    static FileSystem fs(URI uri) throws IOException {
        return FileSystem.get(uri, hadoop());
    }

    static String fileName(int layer, String job) {
        return LayerFiles.fileName(layer, job);
    }

    /** Writes every layer of {@code net} to {@code uri} as a task would; no commit. */
    static List<LayerEntry> writeLayers(MultiLayerNetwork net, URI uri, String job) throws IOException {
        return LayerFiles.writeAll(fs(uri), new Path(uri), job, LayerParameters.parameterSegments(net, 0),
                LayerParameters.stateSegments(net, 0));
    }

    static StoreManifest manifest(MultiLayerNetwork net, List<LayerEntry> entries, String job) {
        return new StoreManifest(StoreManifest.FORMAT_VERSION, net.getLayerWiseConfigurations().toJson(), entries,
                net.getIterationCount(), net.getEpochCount(), 2, SEED, new int[] {0, 1}, job, 1_700_000_000_000L);
    }

    /** Writes and commits {@code net} to {@code uri}. */
    static StoreManifest store(MultiLayerNetwork net, URI uri, String job) throws IOException {
        StoreManifest m = manifest(net, writeLayers(net, uri, job), job);
        ModelStore.commit(uri, hadoop(), m);
        return m;
    }

    /** Exact (bitwise for non-NaN values) equality of two arrays of any floating type. */
    static void assertSameValues(INDArray expected, INDArray actual, String what) {
        assertArrayEquals(expected.castTo(DataType.DOUBLE).reshape(expected.length()).toDoubleVector(),
                actual.castTo(DataType.DOUBLE).reshape(actual.length()).toDoubleVector(), what);
    }
}
