package io.sparkmp.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

import io.sparkmp.model.LayerCases;
import io.sparkmp.model.LayerParameters;
import io.sparkmp.model.LayerProfiler;
import io.sparkmp.model.ModelAssembler;
import io.sparkmp.model.TestModels;
import io.sparkmp.plan.ModelProfile;
import io.sparkmp.plan.PipelinePlan;
import io.sparkmp.plan.PipelinePlanner;
import io.sparkmp.plan.RecomputeMode;
import io.sparkmp.schedule.ScheduleKind;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.EmbeddingSequenceLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.conf.layers.RecurrentAttentionLayer;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.conf.layers.SelfAttentionLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions.LossFunction;

/**
 * Masks of variable-length sequences across cuts in attention models (issue 14, item 3): token indices through an
 * EmbeddingSequenceLayer, SelfAttention, RecurrentAttention and SelfAttention again, then either average pooling
 * and a softmax (one label per sequence: the features mask is consumed by the pooling) or an RnnOutputLayer (a label
 * per step, with a labels mask that differs from the features mask). Every mini-batch of 16 holds sequences of 3 to
 * 6 steps. Each model is cut at every boundary for P = 2 and every pair of boundaries for P = 3, under GPipe (M = 2)
 * and 1F1B (M = 4), and at every three boundaries under interleaved 1F1B (2 devices x 2 stages, M = 4); DOUBLE,
 * Adam with L2, 5 steps, against DL4J's {@code fit} (bound {@link PipelineEquivalenceTest#DOUBLE_BOUND}). Then the
 * split the planner chooses from a measured profile (P = 2 and 3) trains the same.
 */
class AttentionMaskEquivalenceTest {

    private static final Map<String, Double> WORST = new ConcurrentHashMap<>();
    private static final int LENGTH = 6;
    private static final int VOCABULARY = 10;

    /** Embedding, SelfAttention, RecurrentAttention, SelfAttention, then pooling + output or RnnOutput. */
    static MultiLayerConfiguration model(boolean perStep) {
        NeuralNetConfiguration.ListBuilder b = new NeuralNetConfiguration.Builder().seed(TestModels.SEED)
                .dataType(DataType.DOUBLE).updater(new Adam(0.01)).l2(1e-3).activation(Activation.TANH).list()
                .layer(new EmbeddingSequenceLayer.Builder().nIn(VOCABULARY).nOut(4).inputLength(LENGTH).build())
                .layer(new SelfAttentionLayer.Builder().nHeads(2).headSize(3).nOut(4).projectInput(true).build())
                .layer(new RecurrentAttentionLayer.Builder().nHeads(1).headSize(4).nOut(4).projectInput(true).build())
                .layer(new SelfAttentionLayer.Builder().nHeads(2).headSize(2).nOut(4).projectInput(true).build());
        if (perStep) {
            b.layer(new RnnOutputLayer.Builder(LossFunction.MCXENT).activation(Activation.SOFTMAX).nOut(3).build());
        } else {
            b.layer(new GlobalPoolingLayer.Builder(PoolingType.AVG).build())
                    .layer(new OutputLayer.Builder(LossFunction.MCXENT).activation(Activation.SOFTMAX).nOut(3).build());
        }
        MultiLayerConfiguration conf = b.setInputType(InputType.recurrent(1, LENGTH)).build();
        // setInputType set the vocabulary size (nIn) to the input's one index per step: put it back.
        ((EmbeddingSequenceLayer) conf.getConf(0).getLayer()).setNIn(VOCABULARY);
        return conf;
    }

    /**
     * Five mini-batches of 16 masked index sequences of 3..6 steps. Per step: labels with a labels mask that also
     * leaves out the first step of every even example (so it is not the features mask). Pooled: one label each.
     */
    static List<DataSet> data(boolean perStep) {
        List<DataSet> seq = LayerCases.data("seqIndex", 5, 16, 41);
        List<DataSet> out = new ArrayList<>();
        java.util.Random r = new java.util.Random(43);
        for (DataSet ds : seq) {
            INDArray fMask = ds.getFeaturesMaskArray();
            if (perStep) {
                INDArray lMask = fMask.dup();
                for (int e = 0; e < lMask.rows(); e += 2) {
                    lMask.putScalar(e, 0, 0.0);
                }
                out.add(new DataSet(ds.getFeatures(), ds.getLabels(), fMask, lMask));
            } else {
                INDArray labels = Nd4j.zeros(DataType.DOUBLE, fMask.rows(), 3);
                for (int e = 0; e < fMask.rows(); e++) {
                    labels.putScalar(e, r.nextInt(3), 1.0);
                }
                out.add(new DataSet(ds.getFeatures(), labels, fMask, null));
            }
        }
        return out;
    }

    record Split(boolean perStep, ScheduleKind kind, int devices, int v, int m, int[] cuts) {
        @Override
        public String toString() {
            return (perStep ? "per-step" : "pooled") + " " + kind.label() + " P=" + devices + (v > 1 ? " v=" + v : "")
                    + " M=" + m + " cuts=" + Arrays.toString(cuts);
        }
    }

    static Stream<Arguments> splits() {
        List<Arguments> out = new ArrayList<>();
        for (boolean perStep : new boolean[] {false, true}) {
            int n = perStep ? 5 : 6;
            for (int a = 1; a < n; a++) {
                for (ScheduleKind k : List.of(ScheduleKind.GPIPE, ScheduleKind.ONE_F_ONE_B)) {
                    int m = k == ScheduleKind.GPIPE ? 2 : 4;
                    out.add(Arguments.of(new Split(perStep, k, 2, 1, m, new int[] {0, a, n})));
                    for (int b = a + 1; b < n; b++) {
                        out.add(Arguments.of(new Split(perStep, k, 3, 1, m, new int[] {0, a, b, n})));
                    }
                }
                for (int b = a + 1; b < n; b++) {
                    for (int c = b + 1; c < n; c++) {
                        out.add(Arguments.of(new Split(perStep, ScheduleKind.INTERLEAVED_1F1B, 2, 2, 4,
                                new int[] {0, a, b, c, n})));
                    }
                }
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("splits")
    void maskedAttentionAcrossCutsEqualsFit(Split s) {
        MultiLayerConfiguration conf = model(s.perStep());
        PipelineSpec spec = PipelineSpec.of(conf, s.cuts(), s.kind(), s.devices(), s.v(), s.m(), 16, TestModels.SEED);
        check(conf, spec, data(s.perStep()), s.toString());
    }

    /** The split, schedule, M and recompute the planner chooses from a profile measured here train as fit does. */
    @Test
    void thePlannersSplitOfAMaskedAttentionModelEqualsFit() {
        for (boolean perStep : new boolean[] {false, true}) {
            MultiLayerConfiguration conf = model(perStep);
            ModelProfile profile = LayerProfiler.builder().sampleMicroBatch(4).warmup(1).repeats(3).build()
                    .measure(conf, InputType.recurrent(1, LENGTH));
            for (int p = 2; p <= 3; p++) {
                PipelinePlan plan = PipelinePlanner.builder().profile(profile).executors(p).stages(p)
                        .deviceMemoryBytes(1L << 30).bandwidthBytesPerSecond(1e9).batchSize(16)
                        .recompute(RecomputeMode.AUTO).build().plan();
                assertEquals(p, plan.devices(), plan.explain());
                PipelineSpec spec = PipelineSpec.of(conf, plan.boundaries(), plan.schedule(), plan.devices(),
                        plan.stagesPerDevice(), plan.microBatches(), 16, TestModels.SEED)
                        .withRecompute(plan.recomputePerStage());
                System.out.println("planner, " + (perStep ? "per-step" : "pooled") + " model: " + plan);
                check(conf, spec, data(perStep), (perStep ? "per-step" : "pooled") + " planner " + plan);
            }
        }
    }

    /**
     * Indices given as {@code [examples, 1, T]} (what DL4J's EmbeddingSequenceLayer also takes) train as fit: the stage
     * used to fail in the embedding's backward ("Workspace WS_ALL_LAYERS_ACT for array type INPUT is not open").
     */
    @Test
    void indicesWithAUnitChannelAxisTrainAsFit() {
        MultiLayerConfiguration conf = model(true);
        List<DataSet> data = new ArrayList<>();
        for (DataSet ds : data(true)) {
            data.add(new DataSet(ds.getFeatures().reshape('c', ds.getFeatures().rows(), 1, LENGTH), ds.getLabels(),
                    ds.getFeaturesMaskArray(), ds.getLabelsMaskArray()));
        }
        for (int[] cuts : new int[][] {{0, 1, 5}, {0, 5}}) {
            PipelineSpec spec = PipelineSpec.of(conf, cuts, ScheduleKind.ONE_F_ONE_B, cuts.length - 1, 1, 4, 16,
                    TestModels.SEED);
            check(conf, spec, data, "unit-axis-indices [n, 1, T] cuts=" + Arrays.toString(cuts));
        }
    }

    private static void check(MultiLayerConfiguration conf, PipelineSpec spec, List<DataSet> data, String what) {
        InProcessPipeline.Result result = new InProcessPipeline(spec).fit(data, 1);
        List<Double> scores = new ArrayList<>();
        MultiLayerNetwork ref = TestModels.referenceFit(conf, data, 1, scores);
        double err = TestModels.maxRelativeError(result.parameters(), ModelAssembler.split(ref));
        WORST.merge(what.substring(0, what.indexOf(' ')), err, Math::max);
        assertTrue(err <= PipelineEquivalenceTest.DOUBLE_BOUND, what + ": max relative parameter error " + err);
        assertEquals(scores.size(), result.losses().size(), what);
        for (int i = 0; i < scores.size(); i++) {
            assertEquals(scores.get(i), result.losses().get(i), 1e-9 * Math.abs(scores.get(i)), what + ": loss of step " + i);
        }
        double moved = TestModels.maxRelativeError(result.parameters(), LayerParameters.initial(conf, TestModels.SEED));
        assertTrue(moved > 1e-4, what + ": parameters barely moved (" + moved + ")");
    }

    /**
     * The masks matter here: training the per-step model with its masks dropped gives other parameters, so a pipeline
     * that lost a mask at a cut would fail the comparisons above.
     */
    @Test
    void withoutTheMasksTrainingDiffers() {
        MultiLayerConfiguration conf = model(true);
        List<DataSet> masked = data(true);
        List<DataSet> unmasked = new ArrayList<>();
        for (DataSet ds : masked) {
            unmasked.add(new DataSet(ds.getFeatures(), ds.getLabels()));
        }
        MultiLayerNetwork a = TestModels.referenceFit(conf, masked, 1, null);
        MultiLayerNetwork b = TestModels.referenceFit(conf, unmasked, 1, null);
        double diff = TestModels.maxRelativeError(ModelAssembler.split(a), ModelAssembler.split(b));
        assertTrue(diff > 1e-3, "masked and unmasked training differ by only " + diff);
    }

    @AfterAll
    static void report() {
        System.out.println("attention with masks, max relative parameter error vs DL4J fit: " + new TreeMap<>(WORST));
    }
}
