package io.sparkmp.model;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import io.sparkmp.plan.CutProfile;
import io.sparkmp.plan.LayerProfile;
import io.sparkmp.plan.ModelProfile;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * Turns a ComputationGraph configuration into the planner's {@link ModelProfile}: one entry per vertex in DL4J's
 * topological order (the order the stages cut), and per cut every tensor that crosses it with its bytes. A layer
 * vertex is profiled as {@link LayerProfiler} profiles a layer (its input after the vertex's preprocessor); any
 * other vertex has no parameters, keeps its inputs for backward and costs one FLOP per output element. A frozen
 * vertex ({@link GraphSupport#isFrozen}) is profiled as the vertex it wraps with no gradient or updater bytes and
 * no backward time, as fit's backward skips it. Times are
 * analytic (FLOPs over a rate); graph profiles are not measured yet.
 */
@io.sparkmp.Internal
public final class GraphProfiler {

    private GraphProfiler() {
    }

    /**
     * @param inputTypes the types of the graph's inputs, in {@code getNetworkInputs()} order (as given to the
     *     graph builder's {@code setInputTypes})
     * @throws IllegalArgumentException when the input types do not match the graph's inputs, or flopsPerSecond is
     *     not positive
     */
    public static ModelProfile analytic(ComputationGraphConfiguration conf, double flopsPerSecond, InputType... inputTypes) {
        if (!(flopsPerSecond > 0) || Double.isInfinite(flopsPerSecond)) {
            throw new IllegalArgumentException("flopsPerSecond must be positive and finite, found " + flopsPerSecond);
        }
        List<String> inputs = conf.getNetworkInputs();
        if (inputTypes == null || inputTypes.length != inputs.size()) {
            throw new IllegalArgumentException("the graph has " + inputs.size() + " inputs " + inputs + ", found "
                    + (inputTypes == null ? 0 : inputTypes.length) + " input types");
        }
        DataType dt = conf.getDataType();
        Map<String, InputType> types = new HashMap<>(conf.getLayerActivationTypes(inputTypes));
        for (int i = 0; i < inputs.size(); i++) {
            types.put(inputs.get(i), inputTypes[i]);
        }
        List<String> order = GraphSlicer.order(conf);
        List<LayerProfile> layers = new ArrayList<>();
        List<NeuralNetConfiguration> confs = new ArrayList<>();
        for (String v : order) {
            GraphVertex gv = conf.getVertices().get(v);
            List<String> in = conf.getVertexInputs().get(v);
            InputType out = types.get(v);
            LayerProfile p;
            LayerVertex lv = GraphSupport.layerVertex(gv);
            if (lv != null) {
                InputType t = types.get(in.get(0));
                if (lv.getPreProcessor() != null) {
                    t = lv.getPreProcessor().getOutputType(t);
                }
                NeuralNetConfiguration c = lv.getLayerConf();
                if (c.getLayer() instanceof FrozenLayer f) {
                    c = c.clone(); // profiled as the layer it wraps (FLOPs and memory report are the inner layer's)
                    c.setLayer(f.getLayer());
                }
                p = LayerProfiler.layerProfile(v, c, t, out, dt);
                if (!GraphSupport.isFrozen(gv)) {
                    confs.add(c);
                }
            } else {
                long inBytes = 0;
                for (String i : in) {
                    inBytes += types.get(i).arrayElementsPerExample() * dt.width();
                }
                long outBytes = out.arrayElementsPerExample() * dt.width();
                p = new LayerProfile(v, gv.getClass().getSimpleName(), 0, 0, 0, 0, outBytes, inBytes, inBytes + outBytes,
                        out.arrayElementsPerExample(), 0, 0, 0, 0);
            }
            p = p.withFlopTimes(flopsPerSecond);
            if (GraphSupport.isFrozen(gv)) {
                // fit's backward skips a frozen vertex: no gradient or updater state for its parameters, no backward
                // time (neither weight nor input gradient). What it keeps for backward is still counted (DL4J's
                // vertex holds its inputs all the same).
                p = new LayerProfile(v, "Frozen" + p.type(), p.parameters(), p.parameterBytes(), 0, 0,
                        p.outputBytesPerExample(), p.keptBytesPerExample(), p.workingBytesPerExample(),
                        p.forwardFlopsPerExample(), p.forwardSecondsFixed(), p.forwardSecondsPerExample(), 0, 0);
            }
            layers.add(p);
        }
        List<CutProfile> cuts = new ArrayList<>();
        for (List<String> crossing : GraphSlicer.cuts(conf)) {
            long bytes = 0;
            for (String t : crossing) {
                bytes += types.get(t).arrayElementsPerExample() * dt.width();
            }
            cuts.add(new CutProfile(crossing, bytes));
        }
        long inputBytes = 0;
        for (InputType t : inputTypes) {
            inputBytes += t.arrayElementsPerExample() * dt.width();
        }
        return new ModelProfile(layers, inputBytes, dt.name(), LayerProfiler.updaterName(confs),
                ModelProfile.TimeSource.ANALYTIC, 0, ModelProfile.cacheKey(conf.toJson() + "\ninputs="
                + List.of(inputTypes), "analytic " + flopsPerSecond + " flop/s"), cuts);
    }
}
