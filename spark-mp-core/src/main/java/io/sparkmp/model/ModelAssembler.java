package io.sparkmp.model;

import java.util.Map;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Converts between a whole DL4J {@link MultiLayerNetwork} and per-layer parameters (global layer index
 * to rank-1 vector), the form in which pipeline stages hold, return and checkpoint a model.
 */
@io.sparkmp.Internal
public final class ModelAssembler {

    private ModelAssembler() {
    }

    /**
     * An initialised network of {@code conf} holding exactly {@code paramsByLayer}.
     *
     * @param paramsByLayer one entry per layer with parameters, of that layer's size; layers without
     *     parameters must have no entry
     * @throws IllegalArgumentException for a missing, extra or wrongly sized entry (naming the layer)
     */
    public static MultiLayerNetwork assemble(MultiLayerConfiguration conf, Map<Integer, INDArray> paramsByLayer) {
        return assemble(conf, paramsByLayer, null);
    }

    /**
     * As {@link #assemble(MultiLayerConfiguration, Map)}, also restoring the updater state (layout in
     * {@link LayerParameters}) so that training can continue exactly; null leaves a fresh updater.
     */
    public static MultiLayerNetwork assemble(MultiLayerConfiguration conf, Map<Integer, INDArray> paramsByLayer,
                                             Map<Integer, INDArray> updaterStateByLayer) {
        if (conf == null || paramsByLayer == null) {
            throw new IllegalArgumentException("configuration and parameters must not be null");
        }
        int n = conf.getConfs().size();
        for (Integer k : paramsByLayer.keySet()) {
            if (k == null || k < 0 || k >= n) {
                throw new IllegalArgumentException("parameters given for layer " + k + ", but the model has layers 0.." + (n - 1));
            }
        }
        long total = 0;
        for (int i = 0; i < n; i++) {
            long expected = LayerParameters.numParams(conf, i);
            INDArray p = paramsByLayer.get(i);
            String name = ModelSlicer.describe(i, conf.getConf(i).getLayer());
            if (expected == 0) {
                if (p != null && p.length() > 0) {
                    throw new IllegalArgumentException(name + " has no parameters, found " + p.length() + " values");
                }
                continue;
            }
            if (p == null || p.length() != expected) {
                throw new IllegalArgumentException("parameters of " + name + " must have " + expected + " values, found "
                        + (p == null ? "none" : p.length()));
            }
            total += expected;
        }
        MultiLayerNetwork net = new MultiLayerNetwork(conf.clone());
        if (total == 0) {
            net.init();
        } else {
            // One flat array filled in place: the whole model is held once, not as pieces plus their copy.
            INDArray flat = Nd4j.create(conf.getDataType(), 1, total);
            long offset = 0;
            for (int i = 0; i < n; i++) {
                long len = LayerParameters.numParams(conf, i);
                if (len > 0) {
                    flat.get(NDArrayIndex.interval(0, 0, true), NDArrayIndex.interval(offset, offset + len))
                            .assign(paramsByLayer.get(i).reshape(1, len).castTo(conf.getDataType()));
                    offset += len;
                }
            }
            net.init(flat, false);
        }
        if (updaterStateByLayer != null && net.numParams() > 0) {
            net.getUpdater();
            LayerParameters.setUpdaterState(net, 0, updaterStateByLayer);
        }
        return net;
    }

    /** Copies of the parameters of each layer of {@code net} (for {@code --init-from}). */
    public static Map<Integer, INDArray> split(MultiLayerNetwork net) {
        return LayerParameters.parameters(net, 0);
    }

    /** Copies of the updater state of each layer of {@code net}; empty for a stateless updater. */
    public static Map<Integer, INDArray> splitUpdaterState(MultiLayerNetwork net) {
        return LayerParameters.updaterState(net, 0);
    }
}
