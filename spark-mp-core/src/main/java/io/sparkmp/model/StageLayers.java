package io.sparkmp.model;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.dropout.IDropout;
import org.deeplearning4j.nn.conf.layers.Layer;

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

    private static void seed(Layer layer, long seed, int globalIndex, ExampleSeededDropout.Context context) {
        IDropout d = layer.getIDropout();
        if (d != null && !(d instanceof ExampleSeededDropout)) {
            layer.setIDropout(ExampleSeededDropout.of(d, seed, globalIndex, context));
        }
        for (Layer inner : LayerSupport.inner(layer)) {
            seed(inner, seed, globalIndex, context);
        }
    }
}
