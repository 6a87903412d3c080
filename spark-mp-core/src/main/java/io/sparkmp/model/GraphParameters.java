package io.sparkmp.model;

import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Deterministic initial parameters of a ComputationGraph's layer vertices: a function of (seed, the vertex's index
 * in the topological order), as {@link LayerParameters} does for a MultiLayerNetwork's layers, so every split of the
 * same graph starts from the same weights and no stage needs the whole graph. Keys are vertex names.
 */
@io.sparkmp.Internal
public final class GraphParameters {

    private GraphParameters() {
    }

    /** The initial parameters of every layer vertex with parameters, as [numParams] rows, by vertex name. */
    public static Map<String, INDArray> initial(ComputationGraphConfiguration conf, long seed) {
        List<String> order = GraphSlicer.order(conf);
        Map<String, INDArray> out = new TreeMap<>();
        for (int i = 0; i < order.size(); i++) {
            LayerVertex lv = GraphSupport.layerVertex(conf.getVertices().get(order.get(i)));
            if (lv != null) {
                NeuralNetConfiguration c = lv.getLayerConf();
                long n = c.getLayer().initializer().numParams(c);
                if (n > 0) {
                    INDArray view = Nd4j.create(conf.getDataType(), new long[] {1, n}, 'f');
                    initialInto(lv, i, seed, view);
                    out.put(order.get(i), view.reshape(n));
                }
            }
        }
        return Collections.unmodifiableMap(out);
    }

    /** Writes the initial parameters of the layer vertex at topological index {@code index} into a [1, n] view. */
    static void initialInto(LayerVertex vertex, int index, long seed, INDArray view) {
        NeuralNetConfiguration c = vertex.getLayerConf().clone();
        Nd4j.getRandom().setSeed(ExampleSeededDropout.mix(seed, 0x51A7E0L + index));
        c.getLayer().initializer().init(c, view, true);
    }

    /** Copies of the parameters of {@code graph}'s layer vertices among {@code vertices}, by vertex name. */
    static Map<String, INDArray> of(ComputationGraph graph, List<String> vertices) {
        Map<String, INDArray> out = new TreeMap<>();
        for (String v : vertices) {
            Layer layer = graph.getVertex(v).hasLayer() ? graph.getVertex(v).getLayer() : null;
            if (layer != null && layer.numParams() > 0) {
                out.put(v, layer.params().dup().reshape(layer.numParams()));
            }
        }
        return out;
    }

    /**
     * Sets {@code graph}'s layer parameters from {@code params} (by vertex name); vertices without an entry keep
     * theirs.
     *
     * @throws IllegalArgumentException when an entry's length differs from the layer's parameter count
     */
    public static void assign(ComputationGraph graph, Map<String, INDArray> params) {
        for (Map.Entry<String, INDArray> e : params.entrySet()) {
            if (graph.getVertex(e.getKey()) == null || !graph.getVertex(e.getKey()).hasLayer()) {
                continue;
            }
            Layer layer = graph.getVertex(e.getKey()).getLayer();
            if (layer.numParams() != e.getValue().length()) {
                throw new IllegalArgumentException("parameters of vertex " + e.getKey() + " have " + e.getValue().length()
                        + " values, the layer has " + layer.numParams());
            }
            layer.params().assign(e.getValue().reshape(layer.params().shape()));
        }
    }
}
