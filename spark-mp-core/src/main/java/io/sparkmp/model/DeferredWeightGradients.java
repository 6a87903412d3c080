package io.sparkmp.model;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.Layer;

/**
 * The deferred weight gradient of a stage's dense layers (see {@link DeferredDenseLayer}): which layers take part,
 * and what it costs in memory. Kept apart from {@link StageSlice} so the slice only calls in at a few points.
 */
@io.sparkmp.Internal
public final class DeferredWeightGradients {

    private DeferredWeightGradients() {
    }

    /**
     * Replaces every plain dense layer of {@code net} by a {@link DeferredDenseLayer} (DL4J's dense layer until a
     * step asks it to defer); before the network's updater and gradient view exist.
     *
     * @return per local layer the replacing layer, or null where a layer is not eligible
     */
    static DeferredDenseLayer[] install(SliceNetwork net) {
        DeferredDenseLayer[] out = new DeferredDenseLayer[net.getnLayers()];
        for (int i = 0; i < out.length; i++) {
            org.deeplearning4j.nn.api.Layer layer = net.getLayer(i);
            if (DeferredDenseLayer.eligible(layer)) {
                out[i] = DeferredDenseLayer.replacing((org.deeplearning4j.nn.layers.feedforward.dense.DenseLayer) layer);
                net.replaceLayer(i, out[i]);
            }
        }
        return out;
    }

    /** Whether a configured layer's weight gradient is deferred by a stage (the runtime's eligibility, by configuration). */
    public static boolean defers(Layer layer) {
        return layer.getClass() == DenseLayer.class && !((DenseLayer) layer).hasLayerNorm();
    }

    /**
     * Extra bytes a stage holds at its peak while deferring: a copy of each deferred layer's input (nIn) and
     * pre-activation gradient (nOut) for every example of the step, {@code examples} being the step's examples on
     * this replica. Zero with one micro-batch per step (nothing is deferred).
     */
    public static long extraBytes(MultiLayerConfiguration conf, int fromLayer, int toLayer, long examples, int microBatches) {
        if (microBatches < 2) {
            return 0;
        }
        long values = 0;
        for (int i = fromLayer; i < toLayer; i++) {
            Layer l = conf.getConf(i).getLayer();
            if (defers(l)) {
                DenseLayer d = (DenseLayer) l;
                values += d.getNIn() + d.getNOut();
            }
        }
        return values * examples * conf.getDataType().width();
    }

    static int begin(DeferredDenseLayer[] layers, int microBatches) {
        int n = 0;
        for (DeferredDenseLayer l : layers) {
            if (l != null) {
                l.beginDeferring(microBatches);
                n++;
            }
        }
        return n;
    }

    /** Ends deferring and forgets the kept pre-activations: at a step's start (the parameters have changed). */
    static void stop(DeferredDenseLayer[] layers) {
        each(layers, l -> {
            l.stopDeferring();
            l.dropKept();
        });
    }

    /** Names the micro-batch of the next backward (its rows while deferring, its kept pre-activation). */
    static void useSlot(DeferredDenseLayer[] layers, int microBatch) {
        each(layers, l -> l.useSlot(microBatch));
    }

    /** Names the micro-batch of the following training forwards (-1: none), whose pre-activations are kept. */
    static void forwardSlot(DeferredDenseLayer[] layers, int microBatch) {
        each(layers, l -> l.forwardSlot(microBatch));
    }

    /** See {@link DeferredDenseLayer#keepPreActivations}. */
    static void keepPreActivations(DeferredDenseLayer[] layers, int limit) {
        each(layers, l -> l.keepPreActivations(limit));
    }

    /**
     * Whether a configured layer's backward reads the pre-activation its forward kept instead of forming it again
     * (a plain dense layer without weight noise; see {@link DeferredDenseLayer}): it holds its output's size more per
     * example from forward to backward.
     */
    public static boolean keepsPreActivation(Layer layer) {
        return defers(layer) && ((DenseLayer) layer).getWeightNoise() == null;
    }

    static boolean deferring(DeferredDenseLayer[] layers, int i) {
        return i < layers.length && layers[i] != null && layers[i].deferring();
    }

    static void release(DeferredDenseLayer[] layers) {
        each(layers, DeferredDenseLayer::releaseBuffers);
    }

    /** {@code action} on every replacing layer (the array holds null where a layer is not eligible). */
    private static void each(DeferredDenseLayer[] layers, java.util.function.Consumer<DeferredDenseLayer> action) {
        for (DeferredDenseLayer l : layers) {
            if (l != null) {
                action.accept(l);
            }
        }
    }
}
