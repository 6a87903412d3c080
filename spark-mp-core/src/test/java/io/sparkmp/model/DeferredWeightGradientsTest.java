package io.sparkmp.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * The deferred weight gradient of dense layers ({@link DeferredDenseLayer}): stages driven by hand against DL4J's
 * fit; the weight gradient is formed once per step, after the step's last backward, never per micro-batch.
 */
class DeferredWeightGradientsTest {

    private static final int BATCH = 16;

    /**
     * GPipe order, 2 stages, 4 micro-batches, Adam + L2: each dense layer's gradient view is filled with NaN at the
     * start of every step and must still be NaN after every backward but the last (a per-micro-batch product
     * would have written it at the first), and each dense layer forms exactly one weight-gradient product per
     * step. Parameters and losses equal fit's.
     */
    @Test
    void formsTheWeightGradientOncePerStepAndEqualsFit() {
        MultiLayerConfiguration conf = TestModels.mlp(DataType.DOUBLE, TestModels.Opt.ADAM, 0);
        List<DataSet> data = TestModels.data("mlp", DataType.DOUBLE, 4, BATCH, 7);
        int[] b = {0, 2, 4};
        StageSlice[] s = {ModelSlicer.slice(conf, b, 0, TestModels.SEED, null), ModelSlicer.slice(conf, b, 1, TestModels.SEED, null)};
        int m = 4;
        int mb = BATCH / m;
        List<Double> losses = new ArrayList<>();
        int checks = 0;
        for (int step = 0; step < data.size(); step++) {
            DataSet ds = data.get(step);
            long[][] before = new long[2][];
            List<INDArray> stepViews = new ArrayList<>();
            for (int k = 0; k < 2; k++) {
                s[k].beginStep(step, 0, mb);
                // stage 0: two dense layers; stage 1: one dense layer and the output layer (not deferred)
                assertEquals(k == 0 ? 2 : 1, s[k].deferWeightGradients(m), "dense layers deferring on stage " + k);
                before[k] = products(s[k]);
                for (int i = 0; i < s[k].layers().length; i++) {
                    if (s[k].weightGradientProducts(i) >= 0) {
                        // before the first backward the layers point at their parts of the step's gradient
                        INDArray view = s[k].layers()[i].getGradientsViewArray();
                        view.assign(Double.NaN);
                        stepViews.add(view);
                    }
                }
            }
            double reg = s[0].regularizationScore() + s[1].regularizationScore();
            List<INDArray> acts = new ArrayList<>();
            for (int i = 0; i < m; i++) {
                acts.add(s[0].forward(i, TestModels.rows(ds.getFeatures(), i, mb), null));
            }
            for (int i = 0; i < m; i++) {
                s[1].forward(i, acts.get(i), null);
            }
            for (int i = 0; i < m; i++) {
                s[0].backward(i, s[1].backwardWithLabels(i, TestModels.rows(ds.getLabels(), i, mb), null));
                if (i < m - 1) {
                    for (int v = 0; v < stepViews.size(); v++) {
                        assertTrue(stepViews.get(v).isNaN().all(), "dense layer " + v + " of the step wrote a weight "
                                + "gradient after micro-batch " + i + " of step " + step);
                        checks++;
                    }
                }
            }
            losses.add(s[1].lossSum() / BATCH + reg);
            for (int k = 0; k < 2; k++) {
                s[k].applyUpdate(BATCH);
                long[] after = products(s[k]);
                for (int i = 0; i < after.length; i++) {
                    if (after[i] >= 0) {
                        assertEquals(before[k][i] + 1, after[i], "products of stage " + k + " layer " + i + " in step " + step);
                    }
                }
            }
        }
        assertEquals(4 * 3 * 3, checks);
        List<Double> scores = new ArrayList<>();
        MultiLayerNetwork ref = TestModels.referenceFit(conf, data, 1, scores);
        Map<Integer, INDArray> got = new HashMap<>(s[0].parameters());
        got.putAll(s[1].parameters());
        double err = TestModels.maxRelativeError(got, ModelAssembler.split(ref));
        System.out.println("deferred weight gradients, 2 stages M=4: max relative error " + err);
        assertTrue(err <= 1e-9, "max relative error " + err);
        for (int i = 0; i < scores.size(); i++) {
            assertEquals(scores.get(i), losses.get(i), 1e-10 * Math.abs(scores.get(i)), "loss of step " + i);
        }
    }

    /** Without the call the dense layers form their weight gradient per micro-batch, as DL4J does (M per step). */
    @Test
    void withoutDeferringEveryMicroBatchFormsItsOwnProduct() {
        MultiLayerConfiguration conf = TestModels.mlp(DataType.DOUBLE, TestModels.Opt.ADAM, 0);
        DataSet ds = TestModels.data("mlp", DataType.DOUBLE, 1, BATCH, 7).get(0);
        StageSlice one = ModelSlicer.slice(conf, new int[] {0, 4}, 0, TestModels.SEED, null);
        long[] before = products(one);
        runStage(one, ds, 4, false);
        long[] after = products(one);
        for (int i = 0; i < 3; i++) {
            assertEquals(before[i] + 4, after[i], "layer " + i);
        }
        assertEquals(-1, after[3], "the output layer is not a deferring layer");
    }

    /**
     * Dense layers with dropout (kept input after the mask), a dropout layer, a layer-normalized dense layer (not
     * deferred, in the same stage as deferred ones), L1 and weight decay, recompute and stash, 2 stages, M = 4.
     * The dropout model against the same stages at M = 1 without deferral (example-keyed masks make every M draw
     * the same; DL4J's own fit draws other masks), the other against fit.
     */
    @Test
    void dropoutLayerNormAndRecomputeStayExact() {
        List<MultiLayerConfiguration> models = List.of(TestModels.mlpWithDropout(DataType.DOUBLE, TestModels.Opt.ADAM),
                new NeuralNetConfiguration.Builder().seed(TestModels.SEED).dataType(DataType.DOUBLE).updater(new Adam(0.01))
                        .l1(1e-3).weightDecay(1e-2).activation(Activation.TANH).list()
                        .layer(new DenseLayer.Builder().nOut(16).build())
                        .layer(new DenseLayer.Builder().nOut(16).hasLayerNorm(true).build())
                        .layer(new DenseLayer.Builder().nOut(16).activation(Activation.RELU).build())
                        .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX)
                                .nOut(3).build())
                        .setInputType(InputType.feedForward(8)).build());
        for (int k = 0; k < models.size(); k++) {
            MultiLayerConfiguration conf = models.get(k);
            List<DataSet> data = TestModels.data("mlp", DataType.DOUBLE, 3, BATCH, 11);
            Map<Integer, INDArray> expected = k == 0 ? runTwoStages(conf, data, true, 1)
                    : ModelAssembler.split(TestModels.referenceFit(conf, data, 1, new ArrayList<>()));
            for (boolean recompute : new boolean[] {true, false}) {
                double err = TestModels.maxRelativeError(runTwoStages(conf, data, recompute, 4), expected);
                System.out.println("deferred, model " + k + ", recompute " + recompute + ": max relative error " + err);
                assertTrue(err <= 1e-9, "model " + k + ", recompute " + recompute + ": max relative error " + err);
            }
        }
    }

    /** Parameters after the steps of {@code data} through 2 stages (cut after layer 2) at {@code m} micro-batches. */
    private static Map<Integer, INDArray> runTwoStages(MultiLayerConfiguration conf, List<DataSet> data, boolean recompute,
                                                       int m) {
        int n = conf.getConfs().size();
        StageSlice[] s = {ModelSlicer.slice(conf, new int[] {0, 2, n}, 0, TestModels.SEED, null, recompute),
                ModelSlicer.slice(conf, new int[] {0, 2, n}, 1, TestModels.SEED, null, recompute)};
        for (int step = 0; step < data.size(); step++) {
            twoStageGpipeStep(s, data.get(step), step, m);
        }
        Map<Integer, INDArray> got = new HashMap<>(s[0].parameters());
        got.putAll(s[1].parameters());
        return got;
    }

    /**
     * With the per-layer hand-over of the replicas' all-reduce: each layer is handed over during the step's last
     * backward, and its gradient is then already whole (the deferred product is formed first).
     */
    @Test
    void handedOverLayerGradientsAreWhole() {
        MultiLayerConfiguration conf = TestModels.mlp(DataType.DOUBLE, TestModels.Opt.ADAM, 0);
        DataSet ds = TestModels.data("mlp", DataType.DOUBLE, 1, BATCH, 7).get(0);
        StageSlice one = ModelSlicer.slice(conf, new int[] {0, 4}, 0, TestModels.SEED, null);
        int m = 4;
        int mb = BATCH / m;
        one.beginStep(0, 0, mb);
        Map<Integer, INDArray> atHandOver = new HashMap<>();
        Map<Integer, INDArray> views = new HashMap<>();
        one.reduceEachLayerWhenDone(m, (g, layer) -> {
            try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
                atHandOver.put(layer, g.dup());
            }
            views.put(layer, g);
        });
        assertEquals(3, one.deferWeightGradients(m));
        for (int i = 0; i < m; i++) {
            one.forward(i, TestModels.rows(ds.getFeatures(), i, mb), null);
        }
        for (int i = 0; i < m; i++) {
            one.backwardWithLabels(i, TestModels.rows(ds.getLabels(), i, mb), null);
            assertEquals(i < m - 1 ? 0 : 4, atHandOver.size(), "layers handed over after micro-batch " + i);
        }
        for (int layer = 0; layer < 4; layer++) {
            assertEquals(atHandOver.get(layer), views.get(layer), "layer " + layer + " unchanged after its hand-over");
        }
        one.applyUpdate(BATCH);
        // The same step without deferral gives the reference sums.
        StageSlice ref = ModelSlicer.slice(conf, new int[] {0, 4}, 0, TestModels.SEED, null);
        Map<Integer, INDArray> refSums = new HashMap<>();
        ref.beginStep(0, 0, mb);
        ref.reduceEachLayerWhenDone(m, (g, layer) -> {
            try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
                refSums.put(layer, g.dup());
            }
        });
        for (int i = 0; i < m; i++) {
            ref.forward(i, TestModels.rows(ds.getFeatures(), i, mb), null);
        }
        for (int i = 0; i < m; i++) {
            ref.backwardWithLabels(i, TestModels.rows(ds.getLabels(), i, mb), null);
        }
        for (int layer = 0; layer < 4; layer++) {
            double rel = atHandOver.get(layer).sub(refSums.get(layer)).norm2Number().doubleValue()
                    / refSums.get(layer).norm2Number().doubleValue();
            assertTrue(rel <= 1e-12, "layer " + layer + " handed over a partial gradient: relative difference " + rel);
        }
    }

    @Test
    void badCallsAreRefusedNamingTheValue() {
        MultiLayerConfiguration conf = TestModels.mlp(DataType.DOUBLE, TestModels.Opt.ADAM, 0);
        DataSet ds = TestModels.data("mlp", DataType.DOUBLE, 1, BATCH, 7).get(0);
        StageSlice one = ModelSlicer.slice(conf, new int[] {0, 4}, 0, TestModels.SEED, null);
        assertEquals("stage 0: beginStep was not called",
                assertThrows(IllegalStateException.class, () -> one.deferWeightGradients(2)).getMessage());
        one.beginStep(0, 0, 8);
        assertEquals("microBatchesInStep must be positive, found 0",
                assertThrows(IllegalArgumentException.class, () -> one.deferWeightGradients(0)).getMessage());
        assertEquals(0, one.deferWeightGradients(1), "one micro-batch: nothing to defer");
        one.forward(0, TestModels.rows(ds.getFeatures(), 0, 8), null);
        one.backwardWithLabels(0, TestModels.rows(ds.getLabels(), 0, 8), null);
        assertEquals("stage 0: weight gradients deferred after a backward of step 0",
                assertThrows(IllegalStateException.class, () -> one.deferWeightGradients(2)).getMessage());
        StageSlice fused = ModelSlicer.slice(conf, new int[] {0, 4}, 0, TestModels.SEED, null, true, true);
        fused.beginStep(0, 0, 8);
        assertEquals(0, fused.deferWeightGradients(2), "a fused stage has no deferring layer");
    }

    private static void twoStageGpipeStep(StageSlice[] s, DataSet ds, int step, int m) {
        int mb = BATCH / m;
        for (StageSlice x : s) {
            x.beginStep(step, 0, mb);
            int deferring = x.deferWeightGradients(m);
            assertTrue(m == 1 ? deferring == 0 : deferring > 0, "stage " + x.stage() + " defers " + deferring);
        }
        List<INDArray> acts = new ArrayList<>();
        for (int i = 0; i < m; i++) {
            acts.add(s[0].forward(i, TestModels.rows(ds.getFeatures(), i, mb), null));
        }
        for (int i = 0; i < m; i++) {
            s[1].forward(i, acts.get(i), null);
        }
        for (int i = 0; i < m; i++) {
            s[0].backward(i, s[1].backwardWithLabels(i, TestModels.rows(ds.getLabels(), i, mb), null));
        }
        for (StageSlice x : s) {
            x.applyUpdate(BATCH);
        }
    }

    private static void runStage(StageSlice one, DataSet ds, int m, boolean defer) {
        int mb = BATCH / m;
        one.beginStep(0, 0, mb);
        if (defer) {
            one.deferWeightGradients(m);
        }
        for (int i = 0; i < m; i++) {
            one.forward(i, TestModels.rows(ds.getFeatures(), i, mb), null);
        }
        for (int i = 0; i < m; i++) {
            one.backwardWithLabels(i, TestModels.rows(ds.getLabels(), i, mb), null);
        }
        one.applyUpdate(BATCH);
    }

    private static long[] products(StageSlice s) {
        long[] out = new long[s.layers().length];
        for (int i = 0; i < out.length; i++) {
            out[i] = s.weightGradientProducts(i);
        }
        return out;
    }
}
