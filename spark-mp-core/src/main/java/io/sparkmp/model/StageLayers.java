package io.sparkmp.model;

import java.util.LinkedHashMap;
import java.util.Map;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.dropout.IDropout;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.recurrent.Bidirectional;
import org.deeplearning4j.nn.params.BidirectionalParamInitializer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * What a stage's layer configurations need beyond DL4J's own before the stage's network is built: the
 * layer-type handling of {@link LayerSupport}'s table that is not a check. Kept apart from {@link StageSlice}'s
 * forward and backward so that those stay generic.
 */
final class StageLayers {

    private StageLayers() {
    }

    /**
     * Replaces every dropout of the slice's layers, wrapped layers included (Bidirectional's, a frozen layer's),
     * by its example-keyed {@link ExampleSeededDropout}, all reading one context that the stage sets before each
     * micro-batch's forward.
     *
     * @param firstLayer global index of the slice's first layer (dropout noise is keyed by the global index)
     * @return the shared context
     */
    static ExampleSeededDropout.Context seedDropouts(MultiLayerConfiguration sliceConf, int firstLayer, long seed) {
        ExampleSeededDropout.Context context = new ExampleSeededDropout.Context();
        for (int i = 0; i < sliceConf.getConfs().size(); i++) {
            seed(sliceConf.getConf(i).getLayer(), seed, firstLayer + i, context);
        }
        return context;
    }

    /** {@link #seedDropouts} for one layer (and the layers it wraps), keyed by {@code globalIndex}. */
    static void seed(Layer layer, long seed, int globalIndex, ExampleSeededDropout.Context context) {
        IDropout d = layer.getIDropout();
        if (d != null && !(d instanceof ExampleSeededDropout)) {
            layer.setIDropout(ExampleSeededDropout.of(d, seed, globalIndex, context));
        }
        for (Layer inner : LayerSupport.inner(layer)) {
            seed(inner, seed, globalIndex, context);
        }
    }

    /**
     * The named views of a layer's part of a flattened gradient, as {@code ParamInitializer.getGradientsFromFlattened}
     * gives them, except for a Bidirectional layer: DL4J 1.0.0-M2.1's BidirectionalParamInitializer hands the
     * wrapper's configuration to the wrapped layer's initializer (a ClassCastException for an LSTM), so here each
     * half is read with the configuration of its own layer, keys prefixed "f" and "b" as DL4J names them.
     */
    static Map<String, INDArray> gradientsFromFlattened(NeuralNetConfiguration c, INDArray view) {
        if (!(c.getLayer() instanceof Bidirectional b)) {
            return c.getLayer().initializer().getGradientsFromFlattened(c, view);
        }
        long half = view.length() / 2;
        INDArray flat = view.reshape(view.length());
        Map<String, INDArray> out = new LinkedHashMap<>();
        Layer[] sides = {b.getFwd(), b.getBwd()};
        String[] prefixes = {BidirectionalParamInitializer.FORWARD_PREFIX, BidirectionalParamInitializer.BACKWARD_PREFIX};
        for (int k = 0; k < 2; k++) {
            NeuralNetConfiguration side = c.clone();
            side.setLayer(sides[k]);
            INDArray part = flat.get(NDArrayIndex.interval(k * half, (k + 1) * half));
            for (Map.Entry<String, INDArray> e : sides[k].initializer().getGradientsFromFlattened(side, part).entrySet()) {
                out.put(prefixes[k] + e.getKey(), e.getValue());
            }
        }
        return out;
    }
}
