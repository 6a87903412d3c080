package io.sparkmp.model;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.deeplearning4j.nn.conf.BackpropType;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.AttentionVertex;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.graph.FrozenVertex;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.L2NormalizeVertex;
import org.deeplearning4j.nn.conf.graph.L2Vertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.graph.PoolHelperVertex;
import org.deeplearning4j.nn.conf.graph.PreprocessorVertex;
import org.deeplearning4j.nn.conf.graph.ReshapeVertex;
import org.deeplearning4j.nn.conf.graph.ScaleVertex;
import org.deeplearning4j.nn.conf.graph.ShiftVertex;
import org.deeplearning4j.nn.conf.graph.StackVertex;
import org.deeplearning4j.nn.conf.graph.SubsetVertex;
import org.deeplearning4j.nn.conf.graph.UnstackVertex;
import org.deeplearning4j.nn.conf.graph.rnn.LastTimeStepVertex;
import org.deeplearning4j.nn.conf.graph.rnn.ReverseTimeSeriesVertex;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.deeplearning4j.nn.conf.layers.samediff.SameDiffVertex;
import org.nd4j.linalg.dataset.api.MultiDataSet;

/**
 * Which ComputationGraph configurations a graph pipeline runs, checked on the driver before anything launches;
 * every message names the vertex (or the data array) and the reason.
 *
 * <p>Vertices: a layer vertex runs when {@link LayerSupport#rejection} accepts its layer (the MultiLayerNetwork
 * rule: DL4J's own forward and backward, examples independent; dropout of the kinds {@link ExampleSeededDropout}
 * keys per example); a FrozenLayer is checked through the layer it wraps. Of the other vertices those in {@link #SUPPORTED}
 * run: each is a per-example function of its inputs with DL4J's own backward, so micro-batches sum to the batch.
 *
 * <p>Frozen vertices (what {@code TransferLearning.GraphBuilder.setFeatureExtractor} makes: a layer vertex holding a
 * FrozenLayer, or a {@link FrozenVertex} around any other vertex, or around a layer vertex when built by hand) run as
 * in {@code ComputationGraph.calcBackpropGradients}: the backward skips them entirely (no doBackward, no gradient for
 * their parameters, nothing passed to their inputs), and their parameters have no updater (FrozenLayer's
 * configuration has none, FrozenVertex's runtime config is a NoOp DummyConfig), so they never change. Accepted
 * wherever they sit, provided every vertex that is not frozen still gets a gradient (see {@link #validate}) and no
 * network output is frozen.
 */
@io.sparkmp.Internal
public final class GraphSupport {

    /** Vertex configurations a graph stage runs (besides layer vertices). */
    public static final List<Class<? extends GraphVertex>> SUPPORTED = List.of(MergeVertex.class, ElementWiseVertex.class,
            SubsetVertex.class, ScaleVertex.class, ShiftVertex.class, L2NormalizeVertex.class, L2Vertex.class,
            StackVertex.class, UnstackVertex.class, ReshapeVertex.class, PreprocessorVertex.class, LastTimeStepVertex.class,
            org.deeplearning4j.nn.conf.graph.rnn.DuplicateToTimeSeriesVertex.class);

    private static final Map<Class<?>, String> REJECTED = new LinkedHashMap<>();

    static {
        REJECTED.put(AttentionVertex.class, "is a SameDiff vertex: its forward and backward run in a SameDiff session, "
                + "not verified against fit in a stage");
        REJECTED.put(SameDiffVertex.class, "is a SameDiff vertex: its forward and backward run in a SameDiff session, "
                + "not verified against fit in a stage");
        REJECTED.put(ReverseTimeSeriesVertex.class, "reverses a sequence by the mask of a named input: masks are not "
                + "supported in graph stages yet");
        REJECTED.put(PoolHelperVertex.class, "is a Keras-import helper not verified against fit in a stage");
    }

    private GraphSupport() {
    }

    /** Why vertex {@code name} cannot run in a graph stage, or null when it can. */
    public static String rejection(String name, GraphVertex vertex) {
        if (vertex instanceof FrozenVertex fv) {
            if (fv.getUnderlying() == null || fv.getUnderlying() instanceof FrozenVertex) {
                return "is a FrozenVertex around " + (fv.getUnderlying() == null ? "nothing" : "another FrozenVertex");
            }
            String why = rejection(name, fv.getUnderlying());
            return why == null ? null : "is a FrozenVertex around a vertex that " + why;
        }
        if (vertex instanceof LayerVertex lv) {
            Layer layer = lv.getLayerConf().getLayer();
            String why = LayerSupport.rejection(layer);
            return why == null ? null : "holds " + layer.getClass().getSimpleName() + ", which " + why;
        }
        for (Map.Entry<Class<?>, String> e : REJECTED.entrySet()) {
            if (e.getKey().isInstance(vertex)) {
                return e.getValue();
            }
        }
        if (SUPPORTED.contains(vertex.getClass())) {
            return null;
        }
        return "is a " + vertex.getClass().getSimpleName() + ", not one of the vertices a graph stage runs (layer "
                + "vertices and " + SUPPORTED.stream().map(Class::getSimpleName).toList() + ")";
    }

    /**
     * Whether {@code vertex} is frozen as {@code ComputationGraph.calcBackpropGradients} decides it (a FrozenLayer in a
     * layer vertex, or a FrozenVertex): the backward skips it, and its parameters are never updated. A
     * FrozenLayerWithBackprop is not frozen in this sense (it passes gradients through).
     */
    public static boolean isFrozen(GraphVertex vertex) {
        return vertex instanceof FrozenVertex
                || vertex instanceof LayerVertex lv && lv.getLayerConf().getLayer() instanceof FrozenLayer;
    }

    /** As {@link #isFrozen(GraphVertex)} for a runtime vertex: the test DL4J's backward makes. */
    public static boolean isFrozen(org.deeplearning4j.nn.graph.vertex.GraphVertex vertex) {
        return vertex instanceof org.deeplearning4j.nn.graph.vertex.impl.FrozenVertex
                || vertex.hasLayer() && vertex.getLayer() instanceof org.deeplearning4j.nn.layers.FrozenLayer;
    }

    /** The layer vertex {@code vertex} is, or wraps in a FrozenVertex; null for any other vertex. */
    public static LayerVertex layerVertex(GraphVertex vertex) {
        if (vertex instanceof FrozenVertex fv) {
            return layerVertex(fv.getUnderlying());
        }
        return vertex instanceof LayerVertex lv ? lv : null;
    }

    /**
     * Checks that {@code conf} can be trained as a graph pipeline.
     *
     * @throws IllegalArgumentException naming the first unsupported vertex and why, a network output that is not an
     *     output layer or that feeds another vertex, a frozen network output, a vertex that is not frozen but whose
     *     every path to an output passes a frozen vertex (it would get no gradient), a vertex whose output nothing
     *     reads, truncated BPTT, or a graph of several disconnected parts (naming a vertex of each)
     */
    public static void validate(ComputationGraphConfiguration conf) {
        if (conf.getBackpropType() == BackpropType.TruncatedBPTT) {
            throw new IllegalArgumentException("the graph uses truncated BPTT: graph pipelines run standard backprop only");
        }
        Map<String, List<String>> readers = new HashMap<>();
        for (String v : conf.getVertices().keySet()) {
            String why = rejection(v, conf.getVertices().get(v));
            if (why != null) {
                throw new IllegalArgumentException("vertex '" + v + "' " + why);
            }
            for (String in : GraphSlicer.consumed(conf, v)) {
                readers.computeIfAbsent(in, k -> new ArrayList<>()).add(v);
            }
        }
        for (String o : conf.getNetworkOutputs()) {
            GraphVertex v = conf.getVertices().get(o);
            LayerVertex lv = layerVertex(v);
            Layer outLayer = lv == null ? null : lv.getLayerConf().getLayer();
            if (outLayer instanceof FrozenLayer f) {
                outLayer = f.getLayer();
            }
            if (outLayer == null || !LayerSupport.isOutput(outLayer)) {
                throw new IllegalArgumentException("network output '" + o + "' is not an output layer: a graph pipeline "
                        + "trains outputs with labels (an output or loss layer) only");
            }
            if (readers.containsKey(o)) {
                throw new IllegalArgumentException("network output '" + o + "' feeds vertex '" + readers.get(o).get(0)
                        + "': ComputationGraph.fit runs an output layer's forward inside its backward, so nothing may read it");
            }
            if (isFrozen(v)) {
                throw new IllegalArgumentException("network output '" + o + "' is frozen: ComputationGraph.fit skips "
                        + "it in its backward, so it would train nothing; freeze the vertices below the outputs only");
            }
        }
        // Which vertices get a gradient: the outputs, and every vertex read by a vertex that is not frozen and gets
        // one (a frozen vertex passes nothing to its inputs). A vertex that is not frozen and gets none would fail
        // in DL4J's own fit (no epsilon set); here it is named before anything runs.
        List<String> order = GraphSlicer.order(conf);
        Set<String> getsGradient = new HashSet<>(conf.getNetworkOutputs());
        for (int i = order.size() - 1; i >= 0; i--) {
            String v = order.get(i);
            if (getsGradient.contains(v) && !isFrozen(conf.getVertices().get(v))) {
                getsGradient.addAll(GraphSlicer.consumed(conf, v));
            }
        }
        for (String v : order) {
            if (!isFrozen(conf.getVertices().get(v)) && !getsGradient.contains(v) && readers.containsKey(v)) {
                throw new IllegalArgumentException("vertex '" + v + "' is not frozen, but every vertex that reads it ("
                        + readers.get(v) + ") is frozen or gets no gradient: ComputationGraph.fit passes no gradient "
                        + "through a frozen vertex, so it would get none; freeze it too (setFeatureExtractor freezes "
                        + "every vertex below the ones it names) or wrap the layer above in FrozenLayerWithBackprop");
            }
        }
        for (String v : conf.getVertices().keySet()) {
            if (!readers.containsKey(v) && !conf.getNetworkOutputs().contains(v)) {
                throw new IllegalArgumentException("the output of vertex '" + v + "' is read by no vertex and is not a "
                        + "network output: it would get no gradient");
            }
        }
        List<List<String>> parts = components(conf);
        if (parts.size() > 1) {
            StringBuilder sb = new StringBuilder();
            for (List<String> p : parts) {
                sb.append(sb.length() == 0 ? "" : "; ").append(p.size() > 4 ? p.subList(0, 4) + "..." : p);
            }
            throw new IllegalArgumentException("the graph has " + parts.size() + " disconnected parts (" + sb + "): a "
                    + "pipeline trains one connected graph; train each part as its own model");
        }
    }

    /** The connected parts of the graph (inputs and vertices, edges in either direction), each in name order. */
    static List<List<String>> components(ComputationGraphConfiguration conf) {
        Map<String, Set<String>> adj = new LinkedHashMap<>();
        for (String in : conf.getNetworkInputs()) {
            adj.computeIfAbsent(in, k -> new HashSet<>());
        }
        for (String v : conf.getVertices().keySet()) {
            adj.computeIfAbsent(v, k -> new HashSet<>());
            for (String in : GraphSlicer.consumed(conf, v)) {
                adj.computeIfAbsent(in, k -> new HashSet<>()).add(v);
                adj.get(v).add(in);
            }
        }
        Set<String> seen = new HashSet<>();
        List<List<String>> out = new ArrayList<>();
        for (String start : adj.keySet()) {
            if (!seen.add(start)) {
                continue;
            }
            List<String> part = new ArrayList<>();
            Deque<String> todo = new ArrayDeque<>(List.of(start));
            while (!todo.isEmpty()) {
                String x = todo.pop();
                part.add(x);
                for (String y : adj.get(x)) {
                    if (seen.add(y)) {
                        todo.push(y);
                    }
                }
            }
            part.sort(null);
            out.add(part);
        }
        return out;
    }

    /**
     * Checks one mini-batch against the graph: a features array per input, a labels array per output, the same
     * number of examples in each, no masks.
     *
     * @param where names the mini-batch in messages, e.g. "mini-batch 3"
     * @throws IllegalArgumentException naming the array and the graph's inputs or outputs
     */
    public static void validateData(ComputationGraphConfiguration conf, MultiDataSet ds, String where) {
        List<String> inputs = conf.getNetworkInputs();
        List<String> outputs = conf.getNetworkOutputs();
        int f = ds.getFeatures() == null ? 0 : ds.getFeatures().length;
        int l = ds.getLabels() == null ? 0 : ds.getLabels().length;
        if (f != inputs.size()) {
            throw new IllegalArgumentException(where + " has " + f + " features arrays, the graph has " + inputs.size()
                    + " inputs " + inputs);
        }
        if (l > outputs.size()) {
            throw new IllegalArgumentException(where + " has " + l + " labels arrays, the graph has " + outputs.size()
                    + " outputs " + outputs + ": labels " + outputs.size() + " would be for an output that does not exist");
        }
        if (l < outputs.size()) {
            throw new IllegalArgumentException(where + " has " + l + " labels arrays, the graph has " + outputs.size()
                    + " outputs " + outputs + ": output '" + outputs.get(l) + "' has no labels");
        }
        if (ds.getFeaturesMaskArrays() != null || ds.getLabelsMaskArrays() != null) {
            throw new IllegalArgumentException(where + " has mask arrays: graph pipelines do not support masks yet");
        }
        long n = ds.getFeatures(0).size(0);
        for (int i = 0; i < f; i++) {
            requireRows(ds.getFeatures(i).size(0), n, where + ": features of input '" + inputs.get(i) + "'");
        }
        for (int i = 0; i < l; i++) {
            requireRows(ds.getLabels(i).size(0), n, where + ": labels of output '" + outputs.get(i) + "'");
        }
    }

    private static void requireRows(long rows, long n, String what) {
        if (rows != n) {
            throw new IllegalArgumentException(what + " has " + rows + " examples, the first features array has " + n);
        }
    }
}
