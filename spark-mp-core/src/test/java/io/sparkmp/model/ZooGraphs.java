package io.sparkmp.model;

import static io.sparkmp.model.LayerCases.gauss;
import static io.sparkmp.model.LayerCases.oneHot;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.zoo.model.Darknet19;
import org.deeplearning4j.zoo.model.ResNet50;
import org.deeplearning4j.zoo.model.SqueezeNet;
import org.deeplearning4j.zoo.model.UNet;
import org.deeplearning4j.zoo.model.Xception;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.learning.config.Adam;

/**
 * DL4J model-zoo graphs as configurations (fresh weights: nothing is downloaded), at a small square image size, in
 * double precision, for the zoo tests and benchmark. The zoo's own {@code init()} adds the graph input
 * ("input", or for ResNet50 "input_1" in its builder) and its type; this does the same without building the network.
 * Updater: Adam(1e-3) for every model (the zoo's own defaults differ by model; one updater keeps the bounds
 * comparable). {@link #withoutDropout} turns the zoo's dropout off for comparisons with DL4J's fit, which draws its
 * masks from a global stream.
 */
public final class ZooGraphs {

    /** The zoo graphs these fixtures build, by zoo class name. */
    public static final List<String> NAMES = List.of("ResNet50", "SqueezeNet", "Darknet19", "UNet", "Xception");

    private ZooGraphs() {
    }

    /**
     * Zoo graph {@code name} for {@code size} x {@code size} RGB images and {@code classes} classes (UNet: one
     * per-pixel sigmoid channel; {@code classes} is ignored), in double precision.
     */
    public static ComputationGraphConfiguration of(String name, int size, int classes) {
        int[] shape = {3, size, size};
        ComputationGraphConfiguration conf = switch (name) {
            case "ResNet50" -> ResNet50.builder().numClasses(classes).inputShape(shape).updater(new Adam(1e-3)).build()
                    .graphBuilder().build();
            case "SqueezeNet" -> withInput(SqueezeNet.builder().numClasses(classes).inputShape(shape)
                    .updater(new Adam(1e-3)).build().graphBuilder(), size);
            case "Darknet19" -> Darknet19.builder().numClasses(classes).inputShape(shape).updater(new Adam(1e-3)).build()
                    .conf();
            case "UNet" -> withInput(UNet.builder().inputShape(shape).updater(new Adam(1e-3)).build().graphBuilder(), size);
            case "Xception" -> withInput(Xception.builder().numClasses(classes).inputShape(shape)
                    .updater(new Adam(1e-3)).build().graphBuilder(), size);
            default -> throw new IllegalArgumentException("no zoo fixture " + name);
        };
        return inDouble(conf);
    }

    private static ComputationGraphConfiguration withInput(ComputationGraphConfiguration.GraphBuilder b, int size) {
        return b.addInputs("input").setInputTypes(InputType.convolutional(size, size, 3)).build();
    }

    /** {@code conf} in double precision: the graph's data type and every layer configuration's. */
    static ComputationGraphConfiguration inDouble(ComputationGraphConfiguration conf) {
        conf.setDataType(DataType.DOUBLE);
        for (GraphVertex v : conf.getVertices().values()) {
            if (v instanceof LayerVertex lv) {
                lv.getLayerConf().setDataType(DataType.DOUBLE);
            }
        }
        return conf;
    }

    /** {@code conf} (a copy) with every layer's dropout removed. */
    public static ComputationGraphConfiguration withoutDropout(ComputationGraphConfiguration conf) {
        ComputationGraphConfiguration c = conf.clone();
        for (GraphVertex v : c.getVertices().values()) {
            if (v instanceof LayerVertex lv) {
                lv.getLayerConf().getLayer().setIDropout(null); // a DropoutLayer then passes its input on
            }
        }
        return c;
    }

    /**
     * Random mini-batches of {@code size} x {@code size} RGB images for zoo graph {@code name}: one-hot labels of
     * {@code classes} classes (UNet: a random 0/1 mask per pixel).
     */
    public static List<MultiDataSet> data(String name, int size, int classes, int batches, int batchSize, long seed) {
        Random r = new Random(seed);
        List<MultiDataSet> out = new ArrayList<>();
        for (int i = 0; i < batches; i++) {
            INDArray x = gauss(r, batchSize, 3, size, size);
            INDArray y = name.equals("UNet") ? pixelMask(r, batchSize, size) : oneHot(r, batchSize, classes);
            out.add(new org.nd4j.linalg.dataset.MultiDataSet(new INDArray[] {x}, new INDArray[] {y}));
        }
        return out;
    }

    private static INDArray pixelMask(Random r, int n, int size) {
        double[] d = new double[n * size * size];
        for (int i = 0; i < d.length; i++) {
            d[i] = r.nextBoolean() ? 1 : 0;
        }
        return org.nd4j.linalg.factory.Nd4j.create(d, new long[] {n, 1, size, size}, 'c');
    }
}
