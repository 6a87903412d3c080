package io.sparkmp.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import io.sparkmp.model.GraphLayerState;
import io.sparkmp.model.GraphModels;
import io.sparkmp.model.GraphSlicer;
import io.sparkmp.model.GraphSupport;
import io.sparkmp.schedule.ScheduleKind;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.FrozenVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;

/**
 * A transfer-learned ComputationGraph ({@link GraphModels#transferLearned}: {@code setFeatureExtractor("add")}, so
 * d0 and d1 hold FrozenLayers and add is a FrozenVertex) trained as a {@link GraphPipeline} equals DL4J's own
 * {@code ComputationGraph.fit} of the same graph from the same parameters: P = 1, 2, 3 with cuts inside the frozen
 * part, at its boundary and after it, GPipe and 1F1B, M = 1 and 2. Parameters and Adam state within 1e-9 relative
 * (bit-identical with M = 1), losses within 1e-12 relative, and the frozen parameters bit-identical to where they
 * started, on both sides.
 */
class GraphFrozenTest {

    private static final int STEPS = 3;
    private static final int BATCH = 8;
    private static final List<String> ORDER = List.of("d0", "d1", "add", "d2", "m", "d3", "out");
    private static final Set<String> FROZEN_PARAMS = Set.of("d0", "d1");
    private static GraphModels.Reference reference;
    private static Map<String, INDArray> initial;

    private static synchronized GraphModels.Reference reference() {
        if (reference == null) {
            ComputationGraph g = GraphModels.transferLearned();
            initial = GraphModels.parametersOf(g);
            List<Double> scores = new ArrayList<>();
            for (MultiDataSet ds : data()) {
                g.fit(ds);
                scores.add(g.score());
            }
            reference = new GraphModels.Reference(g, scores);
        }
        return reference;
    }

    private static List<MultiDataSet> data() {
        return GraphModels.data("transfer", STEPS, BATCH, 99);
    }

    static Stream<Arguments> cases() {
        // stage boundaries over ORDER: the frozen part is d0, d1, add (indices 0..2)
        int[][] splits = {{0, 7}, {0, 2, 7}, {0, 3, 7}, {0, 5, 7}, {0, 1, 3, 7}, {0, 2, 4, 7}, {0, 3, 5, 7}};
        List<Arguments> out = new ArrayList<>();
        for (int[] b : splits) {
            for (ScheduleKind kind : List.of(ScheduleKind.GPIPE, ScheduleKind.ONE_F_ONE_B)) {
                for (int m : new int[] {1, 2}) {
                    out.add(Arguments.of(b, kind, m));
                }
            }
        }
        return out.stream();
    }

    @Test
    void theFixtureIsWhatTransferLearningMakes() {
        ComputationGraphConfiguration conf = GraphModels.transferLearned().getConfiguration();
        assertEquals(ORDER, GraphSlicer.order(conf));
        for (String v : List.of("d0", "d1")) {
            assertTrue(conf.getVertices().get(v) instanceof LayerVertex lv
                    && lv.getLayerConf().getLayer() instanceof FrozenLayer, v + " holds a FrozenLayer");
        }
        assertTrue(conf.getVertices().get("add") instanceof FrozenVertex, "add is a FrozenVertex");
        for (String v : ORDER) {
            assertEquals(Set.of("d0", "d1", "add").contains(v), GraphSupport.isFrozen(conf.getVertices().get(v)), v);
        }
        assertEquals(org.nd4j.linalg.api.buffer.DataType.DOUBLE, conf.getDataType());
        ComputationGraph g = GraphModels.transferLearned();
        assertTrue(GraphSupport.isFrozen(g.getVertex("d0")) && GraphSupport.isFrozen(g.getVertex("d1"))
                && GraphSupport.isFrozen(g.getVertex("add")) && !GraphSupport.isFrozen(g.getVertex("d2")));
        GraphSupport.validate(conf); // accepted
    }

    /** The row width a Spark input is checked against reads through FrozenLayer and FrozenVertex. */
    @Test
    void inputWidthReadsThroughFrozenLayers() {
        assertEquals(5, io.sparkmp.model.ModelInput.of(GraphModels.transferLearned().getConfiguration()).fixedWidth());
        ComputationGraphConfiguration wrapped = GraphModels.transferBase();
        wrapped.getVertices().put("d0", new FrozenVertex(wrapped.getVertices().get("d0")));
        assertEquals(5, io.sparkmp.model.ModelInput.of(wrapped).fixedWidth());
    }

    /** DL4J's own fit leaves the frozen parameters bit for bit and trains the rest. */
    @Test
    void fitLeavesFrozenParametersAlone() {
        ComputationGraph g = reference().graph();
        assertEquals(STEPS, g.getIterationCount());
        for (String v : ORDER) {
            if (!initial.containsKey(v)) {
                continue;
            }
            INDArray now = g.getVertex(v).getLayer().params().reshape(initial.get(v).length());
            assertEquals(FROZEN_PARAMS.contains(v), now.equals(initial.get(v)), v + " unchanged iff frozen");
        }
    }

    @ParameterizedTest(name = "boundaries {0} {1} M={2}")
    @MethodSource("cases")
    void equalsFit(int[] boundaries, ScheduleKind kind, int m) {
        GraphModels.Reference ref = reference();
        ComputationGraphConfiguration conf = ref.graph().getConfiguration().clone();
        int p = boundaries.length - 1;
        GraphPipeline pipeline = new GraphPipeline(new GraphPipeline.Spec(conf, boundaries, kind, p, m, 1,
                GraphModels.SEED), initial);
        GraphPipeline.Result r = pipeline.fit(data(), 1);
        double tol = m == 1 ? 0.0 : 1e-9;
        GraphEquivalenceTest.assertParamsEqual(ref.graph(), r.parameters(), tol);
        for (String v : FROZEN_PARAMS) {
            assertEquals(initial.get(v), r.parameters().get(v), "frozen " + v + " bit-identical to its start");
        }
        for (String v : List.of("d2", "d3", "out")) {
            assertFalse(initial.get(v).equals(r.parameters().get(v)), v + " trained");
        }
        assertEquals(STEPS, r.losses().size());
        for (int i = 0; i < STEPS; i++) {
            double want = ref.scores().get(i);
            assertEquals(want, r.losses().get(i), 1e-12 * Math.abs(want), "loss of step " + i);
        }
        // updater state: the same vertices have state (the trainable ones: frozen vertices have none), within tol
        Map<Integer, List<INDArray>> want = GraphLayerState.stateSegments(ref.graph(), ORDER);
        Map<Integer, List<INDArray>> have = pipeline.lastUpdaterState();
        assertEquals(Set.of(ORDER.indexOf("d2"), ORDER.indexOf("d3"), ORDER.indexOf("out")), want.keySet());
        assertEquals(want.keySet(), have.keySet());
        for (Integer k : want.keySet()) {
            assertEquals(want.get(k).size(), have.get(k).size(), "state arrays of " + ORDER.get(k));
            for (int j = 0; j < want.get(k).size(); j++) {
                INDArray a = want.get(k).get(j);
                INDArray b = have.get(k).get(j);
                double diff = a.sub(b.reshape(a.shape())).amaxNumber().doubleValue();
                double scale = Math.max(1.0, a.amaxNumber().doubleValue());
                assertTrue(diff <= tol * scale, "state " + j + " of " + ORDER.get(k) + ": difference " + diff);
            }
        }
        // the assembled graph: the same parameters (frozen ones included), iteration count and outputs
        ComputationGraph g = r.toGraph();
        assertEquals(STEPS, g.getIterationCount());
        for (Map.Entry<String, INDArray> e : r.parameters().entrySet()) {
            assertEquals(e.getValue(), g.getVertex(e.getKey()).getLayer().params().reshape(e.getValue().length()));
        }
        assertTrue(GraphSupport.isFrozen(g.getVertex("d0")) && GraphSupport.isFrozen(g.getVertex("add")));
        INDArray[] x = data().get(0).getFeatures();
        INDArray outWant = ref.graph().output(x)[0];
        INDArray outHave = g.output(x)[0];
        assertNotNull(outHave);
        assertTrue(outWant.sub(outHave).amaxNumber().doubleValue() <= tol * 10,
                "outputs of the assembled graph match fit's");
    }

    /** One thread per device over in-process tensor channels (the worker path executors run): the same as fit. */
    @ParameterizedTest(name = "threads: boundaries {0} M={1}")
    @MethodSource("threadedCases")
    void onThreadsEqualsFit(int[] boundaries, int m) {
        GraphModels.Reference ref = reference();
        GraphPipeline.Result r = new GraphPipeline(new GraphPipeline.Spec(ref.graph().getConfiguration().clone(),
                boundaries, ScheduleKind.ONE_F_ONE_B, boundaries.length - 1, m, 1, GraphModels.SEED), initial)
                .fitOnThreads(data(), 1, java.time.Duration.ofSeconds(60));
        GraphEquivalenceTest.assertParamsEqual(ref.graph(), r.parameters(), m == 1 ? 0.0 : 1e-9);
        for (String v : FROZEN_PARAMS) {
            assertEquals(initial.get(v), r.parameters().get(v), "frozen " + v);
        }
    }

    static Stream<Arguments> threadedCases() {
        return Stream.of(Arguments.of(new int[] {0, 2, 7}, 2), Arguments.of(new int[] {0, 1, 3, 7}, 1),
                Arguments.of(new int[] {0, 3, 5, 7}, 2));
    }

    /**
     * A frozen BatchNormalization (the residual BN fixture, {@code setFeatureExtractor("add")}: conv0, conv1, bn, conv2
     * and add frozen): it normalises with its stored statistics, so unlike a trained BN (per-micro-batch statistics)
     * every M equals fit, and its mean and variance stay bit for bit.
     */
    @ParameterizedTest(name = "frozen BN boundaries {0} M={1}")
    @MethodSource("batchNormCases")
    void frozenBatchNormEqualsFitAtEveryM(int[] boundaries, int m) {
        ComputationGraphConfiguration base = GraphModels.residualBatchNorm();
        ComputationGraph g0 = new ComputationGraph(base);
        g0.init();
        io.sparkmp.model.GraphParameters.assign(g0, io.sparkmp.model.GraphParameters.initial(base, GraphModels.SEED));
        ComputationGraph ref = new org.deeplearning4j.nn.transferlearning.TransferLearning.GraphBuilder(g0)
                .fineTuneConfiguration(new org.deeplearning4j.nn.transferlearning.FineTuneConfiguration.Builder()
                        .updater(new org.nd4j.linalg.learning.config.Adam(0.02)).seed(GraphModels.SEED).build())
                .setFeatureExtractor("add").build().convertDataType(org.nd4j.linalg.api.buffer.DataType.DOUBLE);
        assertTrue(GraphSupport.isFrozen(ref.getVertex("bn")));
        Map<String, INDArray> start = GraphModels.parametersOf(ref);
        ComputationGraphConfiguration conf = ref.getConfiguration().clone();
        List<MultiDataSet> batches = GraphModels.data("residual", STEPS, BATCH, 5);
        for (MultiDataSet ds : batches) {
            ref.fit(ds);
        }
        GraphPipeline pipeline = new GraphPipeline(new GraphPipeline.Spec(conf, boundaries, ScheduleKind.ONE_F_ONE_B,
                boundaries.length - 1, m, 1, GraphModels.SEED), start);
        GraphPipeline.Result r = pipeline.fit(batches, 1);
        GraphEquivalenceTest.assertParamsEqual(ref, r.parameters(), m == 1 ? 0.0 : 1e-9);
        for (String v : List.of("conv0", "conv1", "bn", "conv2")) {
            assertEquals(start.get(v), r.parameters().get(v), "frozen " + v + " bit-identical");
            assertEquals(start.get(v), ref.getVertex(v).getLayer().params().reshape(start.get(v).length()), "fit: " + v);
        }
        assertFalse(start.get("out").equals(r.parameters().get("out")), "out trained");
    }

    static Stream<Arguments> batchNormCases() {
        List<Arguments> out = new ArrayList<>();
        for (int[] b : new int[][] {{0, 7}, {0, 3, 7}, {0, 5, 7}, {0, 2, 4, 7}}) {
            for (int m : new int[] {1, 2}) {
                out.add(Arguments.of(b, m));
            }
        }
        return out.stream();
    }

    /**
     * A FrozenVertex around a layer vertex (built by hand; TransferLearning freezes layers as FrozenLayers): DL4J's
     * fit skips it in backward and its runtime config (DummyConfig) has no updater, so even with L2 its parameters
     * stay; the pipeline matches fit from the seed's parameters ({@link GraphModels#referenceFit}), one to three
     * stages, every cut, M = 2.
     */
    @ParameterizedTest(name = "FrozenVertex(layer) boundaries {0}")
    @MethodSource("handBuiltSplits")
    void frozenVertexAroundALayerEqualsFit(int[] boundaries) {
        ComputationGraphConfiguration conf = frozenVertexAroundLayer();
        List<MultiDataSet> data = GraphModels.data("dense4", STEPS, BATCH, 7);
        GraphModels.Reference ref = GraphModels.referenceFit(conf, data, 1, GraphModels.SEED);
        Map<String, INDArray> start = io.sparkmp.model.GraphParameters.initial(conf, GraphModels.SEED);
        assertEquals(start.get("f"), ref.graph().getVertex("f").getLayer().params().reshape(start.get("f").length()),
                "fit leaves a FrozenVertex's layer alone, L2 and all");
        GraphPipeline pipeline = new GraphPipeline(new GraphPipeline.Spec(conf, boundaries, ScheduleKind.ONE_F_ONE_B,
                boundaries.length - 1, 2, 1, GraphModels.SEED), null);
        GraphPipeline.Result r = pipeline.fit(data, 1);
        GraphEquivalenceTest.assertParamsEqual(ref.graph(), r.parameters(), 1e-9);
        assertEquals(start.get("f"), r.parameters().get("f"), "the pipeline leaves it alone too");
        assertFalse(start.get("d").equals(r.parameters().get("d")), "d trained");
        List<String> order = GraphSlicer.order(conf);
        assertEquals(GraphLayerState.stateSegments(ref.graph(), order).keySet(), pipeline.lastUpdaterState().keySet());
        assertFalse(pipeline.lastUpdaterState().containsKey(order.indexOf("f")), "no updater state for f");
    }

    static Stream<Arguments> handBuiltSplits() {
        return Stream.of(new int[] {0, 4}, new int[] {0, 1, 4}, new int[] {0, 2, 4}, new int[] {0, 3, 4},
                new int[] {0, 1, 2, 4}, new int[] {0, 2, 3, 4}).map(b -> Arguments.of((Object) b));
    }

    /** in -> FrozenVertex(scale 2) -> FrozenVertex(dense 5) -> dense 4 -> softmax 3; Adam with L2, double. */
    static ComputationGraphConfiguration frozenVertexAroundLayer() {
        ComputationGraphConfiguration conf = new org.deeplearning4j.nn.conf.NeuralNetConfiguration.Builder()
                .seed(GraphModels.SEED).dataType(org.nd4j.linalg.api.buffer.DataType.DOUBLE)
                .updater(new org.nd4j.linalg.learning.config.Adam(0.01)).l2(1e-3)
                .activation(org.nd4j.linalg.activations.Activation.TANH).graphBuilder()
                .addInputs("in")
                .setInputTypes(org.deeplearning4j.nn.conf.inputs.InputType.feedForward(4))
                .addVertex("fz", new FrozenVertex(new org.deeplearning4j.nn.conf.graph.ScaleVertex(2.0)), "in")
                .addLayer("f", new org.deeplearning4j.nn.conf.layers.DenseLayer.Builder().nOut(5).build(), "fz")
                .addLayer("d", new org.deeplearning4j.nn.conf.layers.DenseLayer.Builder().nOut(4).build(), "f")
                .addLayer("out", new org.deeplearning4j.nn.conf.layers.OutputLayer.Builder(
                        org.nd4j.linalg.lossfunctions.LossFunctions.LossFunction.MCXENT)
                        .activation(org.nd4j.linalg.activations.Activation.SOFTMAX).nOut(3).build(), "d")
                .setOutputs("out").build();
        conf.getVertices().put("f", new FrozenVertex(conf.getVertices().get("f")));
        assertEquals(List.of("fz", "f", "d", "out"), GraphSlicer.order(conf));
        return conf;
    }
}
