package io.sparkmp.model;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.rnn.DuplicateToTimeSeriesVertex;
import org.deeplearning4j.nn.conf.graph.rnn.LastTimeStepVertex;
import org.deeplearning4j.nn.graph.ComputationGraph;

/**
 * Cuts a {@link ComputationGraphConfiguration} into pipeline stages: stage {@code s} holds the vertices
 * {@code [boundaries[s], boundaries[s + 1])} of DL4J's own topological order of the graph (the order
 * {@code ComputationGraph} runs them in, so a stage's forward and the order in which gradients of a tensor with
 * several consumers are summed are those of {@code ComputationGraph.fit}).
 *
 * <p>The cut after stage {@code s} carries every tensor produced at or before stage {@code s} and consumed
 * after it. A tensor consumed several stages later (a skip connection) is <b>relayed</b>: every stage in between
 * receives it and sends it on unchanged, and sends its gradient back the same way. It is not sent directly
 * because then every tensor still travels only between neighbours, the links the runtime already opens; a key
 * names the tensor and the neighbour pair, never a farther stage; and the gradient of a tensor with consumers in
 * several stages arrives as one sum, formed from the last consumer backwards exactly as DL4J forms it. The cost is
 * one extra copy per stage in between, which the planner counts as traffic on every cut the tensor spans.
 *
 * <p>Graph inputs enter at the stage of their first consumer (and are relayed from there when later stages use
 * them too); they need no gradient. A vertex that refers to a graph input by name (DuplicateToTimeSeriesVertex
 * reads its length, LastTimeStepVertex its mask) consumes that input. Each network output sits in the stage
 * that holds its vertex; its labels go there.
 */
@io.sparkmp.Internal
public final class GraphSlicer {

    private GraphSlicer() {
    }

    /** The graph's vertices that are not inputs, in DL4J's topological order. */
    public static List<String> order(ComputationGraphConfiguration conf) {
        ComputationGraph g = new ComputationGraph(conf.clone());
        g.topologicalSortOrder();
        List<String> all = g.getConfiguration().getTopologicalOrderStr();
        if (all == null) {
            throw new IllegalStateException("DL4J gave no topological order for the graph");
        }
        List<String> out = new ArrayList<>();
        for (String v : all) {
            if (!conf.getNetworkInputs().contains(v)) {
                out.add(v);
            }
        }
        return List.copyOf(out);
    }

    /** What vertex {@code name} reads: its inputs, then a graph input it refers to by name (if not among them). */
    public static List<String> consumed(ComputationGraphConfiguration conf, String name) {
        List<String> in = new ArrayList<>(conf.getVertexInputs().getOrDefault(name, List.of()));
        String ref = referencedInput(conf.getVertices().get(name));
        if (ref != null && !in.contains(ref)) {
            in.add(ref);
        }
        return in;
    }

    /** The graph input a vertex names (its length or mask source), or null. */
    static String referencedInput(GraphVertex v) {
        if (v instanceof org.deeplearning4j.nn.conf.graph.FrozenVertex f) {
            return referencedInput(f.getUnderlying());
        }
        if (v instanceof DuplicateToTimeSeriesVertex d) {
            return d.getInputName();
        }
        if (v instanceof LastTimeStepVertex l) {
            return l.getMaskArrayInputName();
        }
        return null;
    }

    /**
     * What crosses each cut of the topological order: entry {@code k} (0..vertex count) lists, in production order,
     * every tensor produced before vertex {@code k} (a graph input: first read before it) and read at or after it;
     * entries 0 and the last are empty. The same rule as {@link #slice}: the cut before stage {@code s}'s first
     * vertex carries what that stage receives.
     */
    public static List<List<String>> cuts(ComputationGraphConfiguration conf) {
        List<String> order = order(conf);
        Map<String, Integer> position = new HashMap<>();
        for (int i = 0; i < order.size(); i++) {
            position.put(order.get(i), i);
        }
        Map<String, Integer> firstUse = new HashMap<>();
        Map<String, Integer> lastUse = new HashMap<>();
        for (int i = 0; i < order.size(); i++) {
            for (String t : consumed(conf, order.get(i))) {
                firstUse.merge(t, i, Math::min);
                lastUse.merge(t, i, Math::max);
            }
        }
        List<String> tensors = new ArrayList<>(conf.getNetworkInputs());
        tensors.addAll(order);
        List<List<String>> out = new ArrayList<>();
        for (int k = 0; k <= order.size(); k++) {
            List<String> crossing = new ArrayList<>();
            for (String t : tensors) {
                if (!lastUse.containsKey(t)) {
                    continue;
                }
                int home = position.containsKey(t) ? position.get(t) : firstUse.get(t);
                if (home < k && k <= lastUse.get(t)) {
                    crossing.add(t);
                }
            }
            out.add(List.copyOf(crossing));
        }
        return List.copyOf(out);
    }

    /**
     * Stage spans for {@code boundaries} (indices into {@link #order}; first 0, last the vertex count).
     *
     * @throws IllegalArgumentException for boundaries that are not strictly increasing from 0 to the vertex count
     */
    public static List<GraphStageSpan> slice(ComputationGraphConfiguration conf, int[] boundaries) {
        List<String> order = order(conf);
        ModelSlicer.validateBoundaries(boundaries, order.size());
        int stages = boundaries.length - 1;
        Map<String, Integer> stageOf = new HashMap<>();
        for (int s = 0; s < stages; s++) {
            for (int i = boundaries[s]; i < boundaries[s + 1]; i++) {
                stageOf.put(order.get(i), s);
            }
        }
        // Production order: graph inputs first (as DL4J numbers them), then vertices.
        List<String> tensors = new ArrayList<>(conf.getNetworkInputs());
        tensors.addAll(order);
        Map<String, Integer> firstUse = new HashMap<>();
        Map<String, Integer> lastUse = new HashMap<>();
        for (String v : order) {
            int s = stageOf.get(v);
            for (String t : consumed(conf, v)) {
                firstUse.merge(t, s, Math::min);
                lastUse.merge(t, s, Math::max);
            }
        }
        Set<String> inputs = new LinkedHashSet<>(conf.getNetworkInputs());
        List<GraphStageSpan> out = new ArrayList<>();
        for (int s = 0; s < stages; s++) {
            List<String> entering = new ArrayList<>();
            List<String> received = new ArrayList<>();
            List<String> sent = new ArrayList<>();
            for (String t : tensors) {
                if (!lastUse.containsKey(t)) {
                    continue; // a network output nobody reads
                }
                int home = inputs.contains(t) ? firstUse.get(t) : stageOf.get(t);
                int last = lastUse.get(t);
                if (inputs.contains(t) && home == s) {
                    entering.add(t);
                }
                if (home < s && s <= last) {
                    received.add(t);
                }
                if (home <= s && s < last) {
                    sent.add(t);
                }
            }
            List<String> outputs = new ArrayList<>();
            for (String o : conf.getNetworkOutputs()) {
                if (stageOf.get(o) == s) {
                    outputs.add(o);
                }
            }
            out.add(new GraphStageSpan(s, order.subList(boundaries[s], boundaries[s + 1]), entering, received, sent,
                    outputs, inputs));
        }
        return List.copyOf(out);
    }
}
