package io.sparkmp.model;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.layers.IOutputLayer;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * One pipeline stage of a ComputationGraph: the vertices of a {@link GraphStageSpan}, run one micro-batch at a time.
 *
 * <p>Per step: {@link #beginStep}, then per micro-batch a {@link #forward} (given the tensors the stage receives and
 * the graph inputs that enter here, by name) and later a {@link #backward} (given the gradient of every tensor the
 * stage sent that needs one), in any order a schedule wants, then {@link #applyUpdate} once.
 *
 * <p>Why the stage drives DL4J's vertices itself instead of calling {@code ComputationGraph}'s passes: the public
 * external-errors backward clears the input epsilons the stage before needs and refuses output layers, and the
 * protected {@code calcBackpropGradients} overwrites the epsilon of a network output with the external one even when
 * a vertex of the same stage also consumes it (a tensor both sent on and used here). So the stage runs the same calls
 * {@code ComputationGraph.fit} makes, vertex by vertex, in the full graph's topological order: the forward sets each
 * vertex's inputs and runs {@code doForward} (not for output layers: fit runs their forward inside their backward);
 * the backward starts every sent tensor's epsilon at the gradient that came back for it (all its later consumers,
 * summed downstream), then visits the vertices in reverse order, adding each vertex's input epsilons into its
 * producers' in place as fit does (first set, then {@code addi}). The sums are therefore formed in the order fit forms
 * them, and with one micro-batch per step a stage is bit-identical to fit.
 *
 * <p>Frozen vertices ({@link GraphSupport#isFrozen}: a FrozenLayer, a FrozenVertex) are skipped by the backward as
 * fit skips them: no gradient for their parameters (their gradient view stays zero and DL4J's updater has no-ops for
 * them), nothing for their inputs. A received tensor that only frozen vertices read gets zeros back; a stage of
 * frozen vertices only recomputes no forward before its backward.
 *
 * <p>Dropout masks are a function of (seed, step, the vertex's topological index, example) as in
 * {@link ExampleSeededDropout}: every split and micro-batch count of a graph trains identically (DL4J's own fit draws
 * from a global stream, so the comparison with it runs without dropout).
 *
 * <p>A stage keeps each micro-batch's received tensors in flight and recomputes a forward before a backward whose
 * micro-batch is not the one the vertices last saw (DL4J's vertices keep the state of one forward). Gradients of the
 * micro-batches are summed in backward order (a copy of the stage's gradient once a second backward comes) and given
 * to DL4J's ComputationGraph updater with the mini-batch size; BatchNormalization's running statistics are averaged.
 *
 * <p>Not thread-safe: one thread drives a stage.
 */
@io.sparkmp.Internal
public final class GraphStage {

    private static final LayerWorkspaceMgr NO_WS = LayerWorkspaceMgr.noWorkspaces();

    private final GraphStageSpan span;
    private final GraphStageNetwork net;
    /** The network inputs of {@link #net}: tensors (received or entering) that vertices of this stage read. */
    private final List<String> netInputs;
    /** Per vertex: what its inputs are, by tensor name, in DL4J's input order. */
    private final Map<String, List<String>> inputsOf = new HashMap<>();
    private final Map<Integer, Map<String, INDArray>> inFlight = new HashMap<>();
    private final Map<Integer, Map<String, INDArray>> labelsInFlight = new HashMap<>();
    private final List<INDArray> runningStats = new ArrayList<>();
    /** Read by every dropout of this stage's layers: masks are keyed by (seed, step, vertex, example). */
    private final ExampleSeededDropout.Context dropoutContext;
    /** The whole graph's topological order: a vertex's index in it is its key in the per-layer store. */
    private final List<String> graphOrder;
    /** This stage's frozen vertices ({@link GraphSupport#isFrozen}): the backward skips them, as fit's does. */
    private final java.util.Set<String> frozen = new java.util.HashSet<>();
    private Map<String, INDArray> activations;
    private int forwardStateOf = -1;
    private Gradient gradientLayout;
    private INDArray gradientSum;
    private int backwards;
    private double lossSum;
    private long step = -1;
    private int epoch;
    private int microBatchSize;

    private GraphStage(GraphStageSpan span, GraphStageNetwork net, List<String> netInputs,
                       ComputationGraphConfiguration conf, ExampleSeededDropout.Context dropoutContext,
                       List<String> graphOrder) {
        this.span = span;
        this.graphOrder = List.copyOf(graphOrder);
        this.dropoutContext = dropoutContext;
        this.net = net;
        this.netInputs = netInputs;
        for (String v : span.vertices()) {
            inputsOf.put(v, List.copyOf(conf.getVertexInputs().get(v)));
            if (GraphSupport.isFrozen(net.getVertex(v))) {
                frozen.add(v);
            }
        }
        if (net.numParams() > 0) {
            net.initGradientsView();
            for (String v : span.vertices()) {
                GraphVertex gv = net.getVertex(v);
                // a frozen BN's statistics never move (fit skips its backward), and its FrozenLayer has no gradient view
                if (!frozen.contains(v) && gv.hasLayer() && gv.getLayer() != null
                        && gv.getLayer().conf().getLayer() instanceof BatchNormalization) {
                    NeuralNetConfiguration c = gv.getLayer().conf();
                    Map<String, INDArray> byName = c.getLayer().initializer().getGradientsFromFlattened(c,
                            gv.getLayer().getGradientsViewArray());
                    for (String key : List.of(BatchNormalizationParamInitializer.GLOBAL_MEAN,
                            BatchNormalizationParamInitializer.GLOBAL_VAR, BatchNormalizationParamInitializer.GLOBAL_LOG_STD)) {
                        if (byName.containsKey(key)) {
                            runningStats.add(byName.get(key));
                        }
                    }
                }
            }
        }
    }

    /**
     * Builds the stage of {@code span}: a ComputationGraph of its vertices whose inputs are the tensors they read.
     *
     * @param conf the whole graph (validated by {@link GraphSupport#validate})
     * @param seed initial parameters of vertices without an entry in {@code initialOrNull} derive from it
     * @param initialOrNull starting parameters by vertex name (e.g. of a saved graph), or null
     */
    public static GraphStage build(ComputationGraphConfiguration conf, GraphStageSpan span, long seed,
                                   Map<String, INDArray> initialOrNull) {
        ComputationGraphConfiguration sub = conf.clone();
        Map<String, org.deeplearning4j.nn.conf.graph.GraphVertex> vertices = new LinkedHashMap<>();
        Map<String, List<String>> vertexInputs = new LinkedHashMap<>();
        java.util.Set<String> read = new java.util.HashSet<>();
        for (String v : span.vertices()) {
            vertices.put(v, sub.getVertices().get(v));
            vertexInputs.put(v, new ArrayList<>(sub.getVertexInputs().get(v)));
            read.addAll(GraphSlicer.consumed(conf, v));
        }
        List<String> netInputs = new ArrayList<>();
        for (String t : span.entering()) {
            netInputs.add(t);
        }
        for (String t : span.received()) {
            if (read.contains(t)) {
                netInputs.add(t);
            }
        }
        sub.setVertices(vertices);
        sub.setVertexInputs(vertexInputs);
        sub.setNetworkInputs(netInputs);
        sub.setNetworkOutputs(span.outputs().isEmpty() ? List.of(span.vertices().get(span.vertices().size() - 1))
                : span.outputs());
        sub.setTopologicalOrder(null);
        sub.setTopologicalOrderStr(null);
        sub.setValidateOutputLayerConfig(false);
        List<String> order = GraphSlicer.order(conf);
        ExampleSeededDropout.Context dropoutContext = new ExampleSeededDropout.Context();
        for (String v : span.vertices()) {
            LayerVertex lv = GraphSupport.layerVertex(vertices.get(v));
            if (lv != null) {
                StageLayers.seed(lv.getLayerConf().getLayer(), seed, order.indexOf(v), dropoutContext);
            }
        }
        GraphStageNetwork net = new GraphStageNetwork(sub);
        net.init();
        for (String v : span.vertices()) {
            if (net.getVertex(v).hasLayer() && net.getVertex(v).getLayer() != null) {
                // A tensor this stage reads may also be sent on, or read by another vertex: DL4J's in-place dropout
                // must not change it.
                net.getVertex(v).getLayer().allowInputModification(false);
            }
        }
        for (String v : span.vertices()) {
            Layer layer = net.getVertex(v).hasLayer() ? net.getVertex(v).getLayer() : null;
            if (layer == null || layer.numParams() == 0) {
                continue;
            }
            INDArray given = initialOrNull == null ? null : initialOrNull.get(v);
            if (given != null) {
                if (given.length() != layer.numParams()) {
                    throw new IllegalArgumentException("initial parameters of vertex " + v + " have " + given.length()
                            + " values, the layer has " + layer.numParams());
                }
                layer.params().assign(given.reshape(layer.params().shape()));
            } else {
                GraphParameters.initialInto(GraphSupport.layerVertex(conf.getVertices().get(v)), order.indexOf(v), seed,
                        layer.params());
            }
        }
        return new GraphStage(span, net, List.copyOf(netInputs), conf, dropoutContext, order);
    }

    /** What this stage holds and exchanges. */
    public GraphStageSpan span() {
        return span;
    }

    /** Starts optimizer step {@code step}: micro-batches of {@code microBatchSize} examples follow. */
    public void beginStep(long step, int epoch, int microBatchSize) {
        if (!inFlight.isEmpty()) {
            throw new IllegalStateException("stage " + span.stage() + ": step " + this.step
                    + " still has micro-batches without backward: " + inFlight.keySet());
        }
        this.step = step;
        this.epoch = epoch;
        this.microBatchSize = microBatchSize;
        this.backwards = 0;
        this.lossSum = 0;
        this.forwardStateOf = -1;
        net.getConfiguration().setIterationCount(Math.toIntExact(step));
        net.getConfiguration().setEpochCount(epoch);
        net.syncCounts();
        net.pinBatchSize(microBatchSize);
    }

    /**
     * The forward of one micro-batch.
     *
     * @param tensors every tensor of {@link GraphStageSpan#entering} and {@link GraphStageSpan#received}, by name
     * @param labels the labels of every output of {@link GraphStageSpan#outputs}, by output name (empty if none)
     * @return every tensor of {@link GraphStageSpan#sent}, by name (relayed ones are the received arrays)
     * @throws IllegalArgumentException naming a missing tensor or labels array
     */
    public Map<String, INDArray> forward(int microBatch, Map<String, INDArray> tensors, Map<String, INDArray> labels) {
        requireStep();
        for (String t : span.entering()) {
            require(tensors, t, "graph input", microBatch);
        }
        for (String t : span.received()) {
            require(tensors, t, "tensor", microBatch);
        }
        for (String o : span.outputs()) {
            require(labels, o, "labels of output", microBatch);
        }
        if (inFlight.putIfAbsent(microBatch, Map.copyOf(tensors)) != null) {
            throw new IllegalStateException("stage " + span.stage() + ": forward of micro-batch " + microBatch
                    + " twice in step " + step);
        }
        labelsInFlight.put(microBatch, Map.copyOf(labels));
        runForward(microBatch);
        Map<String, INDArray> out = new LinkedHashMap<>();
        for (String t : span.sent()) {
            out.put(t, activations.get(t));
        }
        return out;
    }

    private void require(Map<String, INDArray> given, String name, String what, int microBatch) {
        if (given.get(name) == null) {
            throw new IllegalArgumentException("stage " + span.stage() + ": the " + what + " '" + name
                    + "' of micro-batch " + microBatch + " is missing (given: " + given.keySet() + ")");
        }
    }

    private void runForward(int microBatch) {
        Map<String, INDArray> in = inFlight.get(microBatch);
        INDArray[] netIn = new INDArray[netInputs.size()];
        for (int i = 0; i < netIn.length; i++) {
            netIn[i] = in.get(netInputs.get(i));
        }
        net.setInputs(netIn); // DuplicateToTimeSeriesVertex reads its length from a network input
        dropoutContext.set(step, (long) microBatch * microBatchSize, microBatchSize);
        Map<String, INDArray> acts = new HashMap<>(in);
        for (String v : span.vertices()) {
            GraphVertex gv = net.getVertex(v);
            List<String> ins = inputsOf.get(v);
            for (int j = 0; j < ins.size(); j++) {
                gv.setInput(j, acts.get(ins.get(j)), NO_WS);
            }
            if (!isOutputLayer(gv)) { // fit runs an output layer's forward inside its backward
                acts.put(v, gv.doForward(true, NO_WS));
            }
        }
        activations = acts;
        forwardStateOf = microBatch;
    }

    private static boolean isOutputLayer(GraphVertex gv) {
        return gv.hasLayer() && gv.getLayer() instanceof IOutputLayer;
    }

    /**
     * The backward of one micro-batch.
     *
     * @param gradients the gradient of every tensor of {@link GraphStageSpan#sentWithGradient}, by name
     * @return the gradient of every tensor of {@link GraphStageSpan#receivedWithGradient}, by name
     */
    public Map<String, INDArray> backward(int microBatch, Map<String, INDArray> gradients) {
        requireStep();
        if (!inFlight.containsKey(microBatch)) {
            throw new IllegalStateException("stage " + span.stage() + ": backward of micro-batch " + microBatch
                    + " before its forward in step " + step);
        }
        for (String t : span.sentWithGradient()) {
            require(gradients, t, "gradient of", microBatch);
        }
        Map<String, INDArray> given = inFlight.get(microBatch);
        if (forwardStateOf != microBatch && frozen.size() < span.vertices().size()) {
            runForward(microBatch); // an all-frozen stage runs no backward, so needs no recomputed forward
        }
        if (backwards == 1 && gradientSum == null && net.numParams() > 0) {
            gradientSum = net.getFlattenedGradients().dup();
        }
        Map<String, INDArray> labels = labelsInFlight.get(microBatch);
        Map<String, INDArray> eps = new HashMap<>();
        for (String t : span.sentWithGradient()) {
            eps.put(t, gradients.get(t));
        }
        List<Map.Entry<String, INDArray>> gradientEntries = new ArrayList<>();
        List<String> vs = span.vertices();
        for (int i = vs.size() - 1; i >= 0; i--) {
            String v = vs.get(i);
            GraphVertex gv = net.getVertex(v);
            if (frozen.contains(v)) {
                // As ComputationGraph.calcBackpropGradients: a frozen vertex is skipped, so its parameters get no
                // gradient (their view stays zero, and their updater is a NoOp) and its inputs get nothing from it.
                continue;
            }
            if (isOutputLayer(gv)) {
                ((IOutputLayer) gv.getLayer()).setLabels(labels.get(v));
            } else {
                INDArray e = eps.get(v);
                if (e == null) {
                    throw new IllegalStateException("stage " + span.stage() + ": vertex " + v + " got no gradient");
                }
                gv.setEpsilon(e);
            }
            Pair<Gradient, INDArray[]> p = gv.doBackward(false, NO_WS);
            if (isOutputLayer(gv)) {
                lossSum += ((IOutputLayer) gv.getLayer()).computeScore(0.0, true, NO_WS);
            }
            INDArray[] back = p.getSecond();
            List<String> ins = inputsOf.get(v);
            for (int j = 0; j < ins.size() && back != null; j++) {
                INDArray had = eps.get(ins.get(j));
                eps.put(ins.get(j), had == null ? back[j] : had.addi(back[j]));
            }
            if (p.getFirst() != null) {
                for (Map.Entry<String, INDArray> g : p.getFirst().gradientForVariable().entrySet()) {
                    gradientEntries.add(Map.entry(v + "_" + g.getKey(), g.getValue()));
                }
            }
        }
        inFlight.remove(microBatch);
        labelsInFlight.remove(microBatch);
        forwardStateOf = -1;
        if (net.numParams() > 0) {
            if (gradientLayout == null) {
                Gradient layout = new DefaultGradient(net.getFlattenedGradients());
                for (int k = gradientEntries.size() - 1; k >= 0; k--) {
                    layout.setGradientFor(gradientEntries.get(k).getKey(), gradientEntries.get(k).getValue());
                }
                gradientLayout = layout;
            }
            if (gradientSum != null) {
                gradientSum.addi(net.getFlattenedGradients());
            }
        }
        backwards++;
        Map<String, INDArray> out = new LinkedHashMap<>();
        for (String t : span.receivedWithGradient()) {
            // A received tensor read only by frozen vertices here gets no gradient in DL4J's fit either: the schedule
            // still expects a message for it, so it is zeros, which the stage before adds to the epsilon it starts
            // from (0 + x is x exactly, so sums stay bit-identical), and ignores when the producer is frozen too.
            INDArray e = eps.get(t);
            out.put(t, e != null ? e : Nd4j.zerosLike(given.get(t)));
        }
        return out;
    }

    /** The summed score of the stage's output layers over this step's micro-batches so far (no regularization). */
    public double lossSum() {
        return lossSum;
    }

    /** The stage's L1/L2/weight-decay term of the loss, as DL4J's score adds it (before the step's update). */
    public double regularizationScore() {
        return net.calcRegularizationScore(true);
    }

    /**
     * Applies the step's summed gradient with DL4J's updater, as {@code ComputationGraph.fit} does, and advances the
     * iteration count.
     *
     * @param miniBatchSize examples of the whole mini-batch (DL4J gradients are sums; the updater divides)
     */
    public void applyUpdate(int miniBatchSize) {
        requireStep();
        if (!inFlight.isEmpty()) {
            throw new IllegalStateException("stage " + span.stage() + ": step " + step
                    + " still has micro-batches without backward: " + inFlight.keySet());
        }
        if (net.numParams() > 0) {
            if (gradientLayout == null || backwards == 0) {
                throw new IllegalStateException("stage " + span.stage() + ": no backward ran before the update of step " + step);
            }
            INDArray view = net.getFlattenedGradients();
            if (gradientSum != null) {
                view.assign(gradientSum);
                gradientSum = null;
            }
            if (backwards > 1) {
                for (INDArray stat : runningStats) {
                    stat.divi(backwards);
                }
            }
            if (!Double.isFinite(view.sumNumber().doubleValue())) {
                throw new IllegalStateException("non-finite gradient (NaN or infinity) at step " + step + " on stage "
                        + span.stage() + ": training stops before the update");
            }
            net.getUpdater().update(gradientLayout, Math.toIntExact(step), epoch, miniBatchSize, NO_WS);
            net.params().subi(view.reshape(net.params().shape()));
            net.applyConstraints(Math.toIntExact(step), epoch);
        }
        net.getConfiguration().setIterationCount(Math.toIntExact(step + 1));
        step = -1;
    }

    /** Copies of this stage's parameters by vertex name (layer vertices with parameters only). */
    public Map<String, INDArray> parameters() {
        return GraphParameters.of(net, span.vertices());
    }

    /**
     * Views of this stage's parameters per layer vertex with parameters, keyed by the vertex's index in the whole
     * graph's {@link GraphSlicer#order} (see {@link GraphLayerState}); writing a view changes the stage.
     */
    public Map<Integer, List<INDArray>> parameterSegments() {
        return GraphLayerState.parameterSegments(net, graphOrder);
    }

    /** Views of this stage's updater state, keyed as {@link #parameterSegments()} (the updater is made if absent). */
    public Map<Integer, List<INDArray>> stateSegments() {
        return GraphLayerState.stateSegments(net, graphOrder);
    }

    private void requireStep() {
        if (step < 0) {
            throw new IllegalStateException("stage " + span.stage() + ": beginStep was not called");
        }
    }
}
