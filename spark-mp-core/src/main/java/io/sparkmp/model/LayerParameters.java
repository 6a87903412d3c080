package io.sparkmp.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import org.deeplearning4j.nn.api.Trainable;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.updater.BaseMultiLayerUpdater;
import org.deeplearning4j.nn.updater.UpdaterBlock;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Per-layer parameters and updater state, keyed by the layer's index in the full model.
 *
 * <p>Parameters of a layer are a rank-1 vector in DL4J's flattened order for that layer
 * ({@code Layer.params()}). Layers without parameters (pooling, dropout) have no entry.
 *
 * <p>Updater state of a layer is a rank-1 vector: for each parameter of the layer (in flattened order),
 * its slice of each state array of the updater (Adam: M then V; Nesterovs: V; SGD: none). The layout
 * does not depend on how DL4J grouped parameters into updater blocks, so state taken from one split of
 * the model can be put into another.
 */
@io.sparkmp.Internal
public final class LayerParameters {

    private LayerParameters() {
    }

    /** Number of parameters of layer {@code layer} of {@code conf}. */
    public static long numParams(MultiLayerConfiguration conf, int layer) {
        NeuralNetConfiguration c = conf.getConf(layer);
        return c.getLayer().initializer().numParams(c);
    }

    /**
     * The deterministic initial parameters of layer {@code layer}: a function of ({@code seed},
     * {@code layer}) only, so every split of the model starts from the same weights and no JVM needs the
     * whole model. Uses the layer's own initializer (weight init, bias init, LSTM forget-gate bias,
     * BatchNorm gamma/beta/mean/var) with this thread's ND4J RNG reseeded for the layer.
     *
     * @return the rank-1 parameter vector, or null for a layer without parameters
     */
    public static INDArray initial(MultiLayerConfiguration conf, int layer, long seed) {
        long n = numParams(conf, layer);
        if (n == 0) {
            return null;
        }
        INDArray view = Nd4j.create(conf.getDataType(), 1, n);
        initialInto(conf, layer, seed, view);
        return view.reshape(n);
    }

    /** {@link #initial} written into {@code view} (a [1, numParams] row, e.g. a slice of a stage's flat parameters). */
    static void initialInto(MultiLayerConfiguration conf, int layer, long seed, INDArray view) {
        NeuralNetConfiguration c = conf.getConf(layer).clone();
        Nd4j.getRandom().setSeed(ExampleSeededDropout.mix(seed, 0x51A7E0L + layer));
        c.getLayer().initializer().init(c, view, true);
    }

    /** {@link #initial} for every layer with parameters. */
    public static Map<Integer, INDArray> initial(MultiLayerConfiguration conf, long seed) {
        Map<Integer, INDArray> out = new TreeMap<>();
        for (int i = 0; i < conf.getConfs().size(); i++) {
            INDArray p = initial(conf, i, seed);
            if (p != null) {
                out.put(i, p);
            }
        }
        return Collections.unmodifiableMap(out);
    }

    /**
     * Views of the parameters of each layer of {@code net}, keyed by {@code firstLayer + local index}: one
     * rank-1 segment per layer, sharing memory with the network (writing a segment changes the network).
     * Layers without parameters have no entry. The per-layer store streams these without copying them.
     */
    public static Map<Integer, List<INDArray>> parameterSegments(MultiLayerNetwork net, int firstLayer) {
        Map<Integer, List<INDArray>> out = new TreeMap<>();
        for (int i = 0; i < net.getnLayers(); i++) {
            INDArray p = net.getLayer(i).params();
            if (p != null && p.length() > 0) {
                out.put(firstLayer + i, List.of(p.reshape(p.ordering(), new long[] {p.length()})));
            }
        }
        return out;
    }

    /**
     * Views of the updater state of each layer of {@code net}, keyed by {@code firstLayer + local index}:
     * the slices in the order of the layout in the class comment, sharing memory with the updater. Empty
     * when the updater keeps no state (SGD) or none exists yet.
     */
    public static Map<Integer, List<INDArray>> stateSegments(MultiLayerNetwork net, int firstLayer) {
        Map<Integer, List<INDArray>> out = new TreeMap<>();
        forEachStateSlice(net, (layer, slice) -> out.computeIfAbsent(firstLayer + layer, k -> new ArrayList<>()).add(slice));
        return out;
    }

    /**
     * Copies of the parameters of each layer of {@code net}, keyed by {@code firstLayer + local index}.
     */
    static Map<Integer, INDArray> parameters(MultiLayerNetwork net, int firstLayer) {
        Map<Integer, INDArray> out = new TreeMap<>();
        for (Map.Entry<Integer, List<INDArray>> e : parameterSegments(net, firstLayer).entrySet()) {
            out.put(e.getKey(), e.getValue().get(0).dup());
        }
        return out;
    }

    /**
     * Copies of the updater state of each layer of {@code net} (layout in the class comment), keyed by
     * {@code firstLayer + local index}; empty when the updater keeps no state (SGD) or none exists yet.
     */
    static Map<Integer, INDArray> updaterState(MultiLayerNetwork net, int firstLayer) {
        return concatenatedCopies(stateSegments(net, firstLayer));
    }

    /** Per layer: one rank-1 copy of its segments, concatenated in order. */
    static Map<Integer, INDArray> concatenatedCopies(Map<Integer, List<INDArray>> segments) {
        Map<Integer, INDArray> out = new TreeMap<>();
        for (Map.Entry<Integer, List<INDArray>> e : segments.entrySet()) {
            List<INDArray> flat = new ArrayList<>();
            for (INDArray a : e.getValue()) {
                flat.add(a.dup().reshape(a.length()));
            }
            out.put(e.getKey(), Nd4j.concat(0, flat.toArray(new INDArray[0])));
        }
        return out;
    }

    /** Writes per-layer updater state (layout in the class comment) into {@code net}'s updater. */
    static void setUpdaterState(MultiLayerNetwork net, int firstLayer, Map<Integer, INDArray> state) {
        setUpdaterState(visitor -> forEachStateSlice(net, visitor), firstLayer, state);
    }

    /** {@link #setUpdaterState(MultiLayerNetwork, int, Map)} of a network whose layers have one updater each. */
    static void setUpdaterState(MultiLayerNetwork net, List<? extends BaseMultiLayerUpdater<?>> layerUpdaters, int firstLayer,
                                Map<Integer, INDArray> state) {
        setUpdaterState(visitor -> forEachStateSlice(net, layerUpdaters, visitor), firstLayer, state);
    }

    private static void setUpdaterState(java.util.function.Consumer<SliceVisitor> walk, int firstLayer, Map<Integer, INDArray> state) {
        Map<Integer, Long> offsets = new LinkedHashMap<>();
        Map<Integer, Long> expected = new TreeMap<>();
        walk.accept((layer, slice) -> expected.merge(layer, slice.length(), Long::sum));
        for (Map.Entry<Integer, Long> e : expected.entrySet()) {
            INDArray s = state.get(firstLayer + e.getKey());
            if (s == null || s.length() != e.getValue()) {
                throw new IllegalArgumentException("updater state of layer " + (firstLayer + e.getKey())
                        + " must have " + e.getValue() + " values, found " + (s == null ? "none" : s.length()));
            }
        }
        walk.accept((layer, slice) -> {
            INDArray s = state.get(firstLayer + layer).reshape(state.get(firstLayer + layer).length());
            long off = offsets.getOrDefault(layer, 0L);
            slice.assign(s.get(NDArrayIndex.interval(off, off + slice.length())).reshape(slice.shape()));
            offsets.put(layer, off + slice.length());
        });
    }

    interface SliceVisitor {
        void visit(int localLayer, INDArray slice);
    }

    /** Visits, per layer in order, per parameter in order, per state array in order, the state slice. */
    private static void forEachStateSlice(MultiLayerNetwork net, SliceVisitor visitor) {
        if (net.getUpdater(false) == null || net.numParams() == 0) {
            return;
        }
        forEachStateSlice(net, List.of((BaseMultiLayerUpdater<?>) net.getUpdater()), visitor);
    }

    /**
     * As {@link #forEachStateSlice(MultiLayerNetwork, SliceVisitor)} over the given updaters of {@code net}'s
     * layers: DL4J's whole-network one, or one per layer in layer order (a stage that updates layer by layer).
     */
    private static void forEachStateSlice(MultiLayerNetwork net, List<? extends BaseMultiLayerUpdater<?>> updaters,
                                          SliceVisitor visitor) {
        Map<Trainable, Integer> index = new IdentityHashMap<>();
        for (int i = 0; i < net.getnLayers(); i++) {
            index.put((Trainable) net.getLayer(i), i);
        }
        forEachStateSlice(index, updaters, visitor);
    }

    /**
     * The walk of {@link #forEachStateSlice(MultiLayerNetwork, SliceVisitor)} over any updaters whose blocks refer to
     * the trainables of {@code index} (identity map: trainable to the key its slices are reported under); a
     * ComputationGraph's updater refers to its vertices ({@link GraphLayerState}).
     */
    static void forEachStateSlice(Map<Trainable, Integer> index, List<? extends BaseMultiLayerUpdater<?>> updaters,
                                  SliceVisitor visitor) {
        for (BaseMultiLayerUpdater<?> updater : updaters) {
            // paramOffsetStart -> slices, so layers and parameters come out in flattened order.
            TreeMap<Long, List<INDArray>> ordered = new TreeMap<>();
            Map<Long, Integer> layerOf = new TreeMap<>();
            for (UpdaterBlock block : updater.getUpdaterBlocks()) {
                INDArray view = block.getUpdaterView();
                if (view == null || view.length() == 0) {
                    continue;
                }
                long blockLen = block.getParamOffsetEnd() - block.getParamOffsetStart();
                long states = view.length() / blockLen;
                INDArray flatView = view.reshape(view.length());
                for (UpdaterBlock.ParamState ps : block.getLayersAndVariablesInBlock()) {
                    Integer layer = index.get(ps.getLayer());
                    if (layer == null) {
                        throw new IllegalStateException("updater block refers to a layer outside the network");
                    }
                    long rel = ps.getParamOffsetStart() - block.getParamOffsetStart();
                    long len = ps.getParamOffsetEnd() - ps.getParamOffsetStart();
                    List<INDArray> slices = new ArrayList<>();
                    for (long st = 0; st < states; st++) {
                        long from = st * blockLen + rel;
                        slices.add(flatView.get(NDArrayIndex.interval(from, from + len)));
                    }
                    ordered.put((long) ps.getParamOffsetStart(), slices);
                    layerOf.put((long) ps.getParamOffsetStart(), layer);
                }
            }
            for (Map.Entry<Long, List<INDArray>> e : ordered.entrySet()) {
                for (INDArray slice : e.getValue()) {
                    visitor.visit(layerOf.get(e.getKey()), slice);
                }
            }
        }
    }

    /** {@link #stateSegments(MultiLayerNetwork, int)} of a network whose layers have one updater each. */
    static Map<Integer, List<INDArray>> stateSegments(MultiLayerNetwork net, List<? extends BaseMultiLayerUpdater<?>> layerUpdaters,
                                                      int firstLayer) {
        Map<Integer, List<INDArray>> out = new TreeMap<>();
        forEachStateSlice(net, layerUpdaters, (layer, slice) -> out.computeIfAbsent(firstLayer + layer, k -> new ArrayList<>()).add(slice));
        return out;
    }
}
