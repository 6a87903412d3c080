package io.sparkmp.runtime;

import static io.sparkmp.runtime.GraphEquivalenceTest.assertParamsEqual;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;

import io.sparkmp.model.GraphModels;
import io.sparkmp.model.GraphProfiler;
import io.sparkmp.model.GraphSlicer;
import io.sparkmp.model.GraphSupport;
import io.sparkmp.model.ZooGraphs;
import io.sparkmp.plan.ModelProfile;
import io.sparkmp.plan.PipelinePlan;
import io.sparkmp.plan.PipelinePlanner;
import io.sparkmp.plan.StagePlan;
import io.sparkmp.schedule.ScheduleKind;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.zoo.model.FaceNetNN4Small2;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.dataset.api.MultiDataSet;

/**
 * Graphs of DL4J's model zoo, built from their configurations with fresh weights (no download), run as graph
 * pipelines. Every vertex and layer of ResNet50, SqueezeNet, Darknet19, UNet and Xception is supported; a zoo graph
 * with a layer that mixes examples (FaceNetNN4Small2's CenterLossOutputLayer) is rejected naming the vertex.
 *
 * <p>Exactness against {@code ComputationGraph.fit} (double precision, 32 x 32 images, 10 classes, batch 4, 3
 * steps, Adam): SqueezeNet (no BatchNormalization) at P = 2..4, GPipe and 1F1B, M in {1, 2, 4}: bit-identical with
 * one micro-batch, within 1e-9 relative with several (the batch gradient is summed in another order). Darknet19 has
 * BatchNormalization after every convolution: its statistics are per micro-batch, so it equals fit only with
 * M = 1 (bit-identical, checked here); with M > 1 it trains differently by design (see GraphDropoutAndBatchNormTest).
 * ResNet50 (23.6 M parameters, 175 vertices) is planned here and trained in the examples' ZooGraphBenchmark: one
 * training step of it in double takes longer than this whole test.
 */
class ZooGraphTest {

    private static final int SIZE = 32;
    private static final int CLASSES = 10;
    private static final int BATCH = 4;
    private static final int STEPS = 3;
    private static final long SEED = 1234L;

    private static ComputationGraphConfiguration squeezeNet;
    private static List<MultiDataSet> squeezeData;
    private static GraphModels.Reference squeezeFit;

    @BeforeAll
    static void squeezeNetReference() {
        squeezeNet = ZooGraphs.withoutDropout(ZooGraphs.of("SqueezeNet", SIZE, CLASSES));
        squeezeData = ZooGraphs.data("SqueezeNet", SIZE, CLASSES, STEPS, BATCH, 5);
        squeezeFit = GraphModels.referenceFit(squeezeNet, squeezeData, 1, SEED);
    }

    @Test
    void everyVertexOfTheZooGraphsIsSupported() {
        for (String name : ZooGraphs.NAMES) {
            ComputationGraphConfiguration conf = ZooGraphs.of(name, name.equals("ResNet50") ? 96 : SIZE, CLASSES);
            GraphSupport.validate(conf); // throws naming the vertex otherwise
            for (String v : conf.getVertices().keySet()) {
                assertEquals(null, GraphSupport.rejection(v, conf.getVertices().get(v)), name + " vertex " + v);
            }
        }
    }

    @Test
    void aZooGraphWithALayerThatMixesExamplesIsRejectedNamingIt() {
        ComputationGraphConfiguration faceNet = FaceNetNN4Small2.builder().numClasses(CLASSES)
                .inputShape(new int[] {3, 96, 96}).build().conf();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GraphSupport.validate(faceNet));
        assertTrue(e.getMessage().startsWith("vertex 'lossLayer' holds CenterLossOutputLayer, which computes its centre "
                + "gradient with a division by the per-class example counts of the whole batch"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new GraphPipeline.Spec(faceNet,
                new int[] {0, GraphSlicer.order(faceNet).size()}, ScheduleKind.GPIPE, 1, 1, 1, SEED));
    }

    static Stream<Arguments> squeezeNetCases() {
        return Stream.of(Arguments.of(2, ScheduleKind.ONE_F_ONE_B, 1), Arguments.of(2, ScheduleKind.GPIPE, 4),
                Arguments.of(3, ScheduleKind.ONE_F_ONE_B, 2), Arguments.of(3, ScheduleKind.GPIPE, 1),
                Arguments.of(4, ScheduleKind.ONE_F_ONE_B, 4), Arguments.of(4, ScheduleKind.ONE_F_ONE_B, 1));
    }

    @ParameterizedTest(name = "SqueezeNet P={0} {1} M={2}")
    @MethodSource("squeezeNetCases")
    void squeezeNetEqualsFit(int p, ScheduleKind kind, int m) {
        GraphPipeline.Result r = new GraphPipeline(new GraphPipeline.Spec(squeezeNet,
                GraphEquivalenceTest.evenBoundaries(GraphSlicer.order(squeezeNet).size(), p), kind, p, m, 1, SEED), null)
                .fit(squeezeData, 1);
        assertParamsEqual(squeezeFit.graph(), r.parameters(), m == 1 ? 0.0 : 1e-9);
        assertLossesEqual(squeezeFit, r, 1e-12);
    }

    /** One thread per device over in-process channels: every cut's tensors under their own keys, as across JVMs. */
    @Test
    void squeezeNetOnThreadsEqualsFit() {
        GraphPipeline.Result r = new GraphPipeline(new GraphPipeline.Spec(squeezeNet,
                GraphEquivalenceTest.evenBoundaries(GraphSlicer.order(squeezeNet).size(), 3), ScheduleKind.ONE_F_ONE_B, 3,
                2, 1, SEED), null).fitOnThreads(squeezeData, 1, Duration.ofSeconds(120));
        assertParamsEqual(squeezeFit.graph(), r.parameters(), 1e-9);
        assertLossesEqual(squeezeFit, r, 1e-12);
    }

    /** Darknet19 has BatchNormalization: with one micro-batch its batch statistics are fit's, bit for bit. */
    @Test
    void darknet19WithBatchNormalizationIsBitIdenticalWithOneMicroBatch() {
        ComputationGraphConfiguration conf = ZooGraphs.of("Darknet19", SIZE, CLASSES);
        long batchNorms = conf.getVertices().values().stream().filter(v -> v instanceof LayerVertex lv
                && lv.getLayerConf().getLayer() instanceof BatchNormalization).count();
        assertEquals(18, batchNorms);
        List<MultiDataSet> data = ZooGraphs.data("Darknet19", SIZE, CLASSES, STEPS, BATCH, 6);
        GraphModels.Reference ref = GraphModels.referenceFit(conf, data, 1, SEED);
        // cut inside the network, between a convolution and its BatchNormalization, and later
        List<String> order = GraphSlicer.order(conf);
        int afterConv = order.indexOf(order.stream().filter(v -> v.contains("conv")).skip(4).findFirst().orElseThrow()) + 1;
        GraphPipeline.Result r = new GraphPipeline(new GraphPipeline.Spec(conf,
                new int[] {0, afterConv, 2 * order.size() / 3, order.size()}, ScheduleKind.ONE_F_ONE_B, 3, 1, 1, SEED), null)
                .fit(data, 1);
        assertParamsEqual(ref.graph(), r.parameters(), 0.0);
        assertLossesEqual(ref, r, 1e-12);
    }

    /**
     * ResNet50 at 96 x 96 (its smallest size: at 64 its last pooling leaves nothing): the planner cuts its 175 vertices into 4 stages by the analytic profile; each cut carries
     * what crosses it (inside a residual block: the block's input as well), and the stages hold every parameter.
     */
    @Test
    void resNet50IsPlannedIntoFourStages() {
        ComputationGraphConfiguration conf = ZooGraphs.of("ResNet50", 96, CLASSES);
        ModelProfile profile = GraphProfiler.analytic(conf, 1e10, InputType.convolutional(96, 96, 3));
        assertEquals(175, profile.layers().size());
        ComputationGraph g = new ComputationGraph(conf.clone());
        g.init();
        long params = g.numParams();
        assertEquals(params, profile.layers().stream().mapToLong(l -> l.parameters()).sum());
        PipelinePlan plan = PipelinePlanner.builder().profile(profile).executors(4).deviceMemoryBytes(8L << 30)
                .bandwidthBytesPerSecond(1e9).latencySeconds(0).batchSize(8).stages(4).microBatches(4)
                .schedule(ScheduleKind.ONE_F_ONE_B).build().plan();
        assertEquals(4, plan.stages().size());
        long held = 0;
        String explain = plan.explain();
        for (StagePlan s : plan.stages()) {
            held += s.parameters();
            assertTrue(s.parameters() > 0, "stage " + s.index() + " holds no parameters: " + explain);
            if (s.index() + 1 < plan.stages().size()) {
                int k = plan.boundaries()[s.index() + 1];
                assertEquals(GraphSlicer.cuts(conf).get(k), s.sentTensors(), "cut " + k);
                assertEquals(profile.cutBytesPerExample(k) * 2, s.bytesSentForward(), "bytes of cut " + k + " (micro-batches of 2)");
                assertTrue(explain.contains("cut " + s.index() + "|" + (s.index() + 1) + " (before layer " + k + ") carries "
                        + s.sentTensors().size()), explain);
            }
        }
        assertEquals(params, held);
        // the cut in the middle of a bottleneck block carries the block's input (the skip) besides the branch
        List<List<String>> cuts = GraphSlicer.cuts(conf);
        int insideBlock = GraphSlicer.order(conf).indexOf("res2a_branch2b");
        assertEquals(2, cuts.get(insideBlock).size(), "tensors crossing before res2a_branch2b: " + cuts.get(insideBlock));
    }

    private static void assertLossesEqual(GraphModels.Reference ref, GraphPipeline.Result r, double relative) {
        assertEquals(STEPS, r.losses().size());
        for (int i = 0; i < STEPS; i++) {
            double want = ref.scores().get(i);
            assertEquals(want, r.losses().get(i), relative * Math.abs(want), "loss of step " + i);
        }
    }
}
