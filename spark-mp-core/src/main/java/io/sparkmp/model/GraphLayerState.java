package io.sparkmp.model;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Trainable;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.deeplearning4j.nn.updater.BaseMultiLayerUpdater;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Per-vertex parameters and updater state of a ComputationGraph (a whole graph or one stage's), keyed by the vertex's
 * index in {@link GraphSlicer#order} of the whole graph: the per-layer store's "layer" of a graph. The layout of a
 * vertex's state is {@link LayerParameters}'s (per parameter, per state array), independent of how DL4J grouped the
 * parameters into updater blocks, so the state of a stage's graph fits the whole graph's updater and back.
 */
@io.sparkmp.Internal
public final class GraphLayerState {

    private GraphLayerState() {
    }

    /** Views of the parameters of every layer vertex with parameters among {@code order} present in {@code graph}. */
    public static Map<Integer, List<INDArray>> parameterSegments(ComputationGraph graph, List<String> order) {
        Map<Integer, List<INDArray>> out = new TreeMap<>();
        for (int i = 0; i < order.size(); i++) {
            Layer layer = layerOf(graph, order.get(i));
            if (layer != null && layer.numParams() > 0) {
                INDArray p = layer.params();
                out.put(i, List.of(p.reshape(p.ordering(), new long[] {p.length()})));
            }
        }
        return out;
    }

    /**
     * Views of the updater state of every vertex of {@code graph} with parameters (none when the updater keeps
     * no state); the updater is made when absent, as DL4J's first fit makes it.
     */
    public static Map<Integer, List<INDArray>> stateSegments(ComputationGraph graph, List<String> order) {
        Map<Integer, List<INDArray>> out = new TreeMap<>();
        if (graph.numParams() == 0) {
            return out;
        }
        Map<Trainable, Integer> index = new IdentityHashMap<>();
        for (int i = 0; i < order.size(); i++) {
            GraphVertex v = graph.getVertex(order.get(i));
            if (v != null) {
                index.put(v, i);
                if (v.hasLayer() && v.getLayer() != null) {
                    index.put(v.getLayer(), i);
                }
            }
        }
        LayerParameters.forEachStateSlice(index, List.of((BaseMultiLayerUpdater<?>) graph.getUpdater(true)),
                (vertex, slice) -> out.computeIfAbsent(vertex, k -> new ArrayList<>()).add(slice));
        return out;
    }

    private static Layer layerOf(ComputationGraph graph, String vertex) {
        GraphVertex v = graph.getVertex(vertex);
        return v != null && v.hasLayer() ? v.getLayer() : null;
    }
}
