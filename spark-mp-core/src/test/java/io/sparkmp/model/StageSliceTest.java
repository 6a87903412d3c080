package io.sparkmp.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.indexing.NDArrayIndex;

/** Stages driven by hand (GPipe order, no runtime) against DL4J's fit. */
class StageSliceTest {

    @Test
    void twoStageGpipeMlpMatchesFit() {
        MultiLayerConfiguration conf = TestModels.mlp(DataType.DOUBLE, TestModels.Opt.ADAM, 0);
        List<DataSet> data = TestModels.data("mlp", DataType.DOUBLE, 5, 16, 7);
        int[] b = {0, 2, 4};
        StageSlice s0 = ModelSlicer.slice(conf, b, 0, TestModels.SEED, null);
        StageSlice s1 = ModelSlicer.slice(conf, b, 1, TestModels.SEED, null);
        int m = 4;
        List<Double> losses = new ArrayList<>();
        for (int step = 0; step < data.size(); step++) {
            DataSet ds = data.get(step);
            int mb = 16 / m;
            s0.beginStep(step, 0, mb);
            s1.beginStep(step, 0, mb);
            List<INDArray> acts = new ArrayList<>();
            for (int i = 0; i < m; i++) {
                INDArray x = ds.getFeatures().get(NDArrayIndex.interval(i * mb, (i + 1) * mb), NDArrayIndex.all());
                acts.add(s0.forward(i, x, null));
            }
            for (int i = 0; i < m; i++) {
                s1.forward(i, acts.get(i), null);
            }
            for (int i = 0; i < m; i++) {
                INDArray y = ds.getLabels().get(NDArrayIndex.interval(i * mb, (i + 1) * mb), NDArrayIndex.all());
                INDArray g = s1.backwardWithLabels(i, y, null);
                s0.backward(i, g);
            }
            losses.add(s1.lossSum() / 16 + s0.regularizationScore() + s1.regularizationScore());
            s0.applyUpdate(16);
            s1.applyUpdate(16);
        }
        List<Double> scores = new ArrayList<>();
        MultiLayerNetwork ref = TestModels.referenceFit(conf, data, 1, scores);
        Map<Integer, INDArray> got = new HashMap<>(s0.parameters());
        got.putAll(s1.parameters());
        double err = TestModels.maxRelativeError(got, ModelAssembler.split(ref));
        System.out.println("2-stage GPipe MLP max relative error " + err + ", losses " + losses + " vs " + scores);
        assertTrue(err <= 1e-9, "max relative error " + err);
        for (int i = 0; i < scores.size(); i++) {
            assertEquals(scores.get(i), losses.get(i), 1e-10 * Math.abs(scores.get(i)));
        }
    }

    /**
     * For the replicas' all-reduce overlapped with the backward: each layer's step gradient is handed over once,
     * top layer first, during the backward of the step's last micro-batch, and is already the whole step's sum
     * then (its copy at hand-over equals the gradient the update later reads).
     */
    @Test
    void eachLayersGradientIsHandedOverWholeDuringTheLastBackward() {
        MultiLayerConfiguration conf = TestModels.mlp(DataType.DOUBLE, TestModels.Opt.ADAM, 0);
        DataSet ds = TestModels.data("mlp", DataType.DOUBLE, 1, 16, 7).get(0);
        int[] b = {0, 2, 4};
        StageSlice s0 = ModelSlicer.slice(conf, b, 0, TestModels.SEED, null);
        StageSlice s1 = ModelSlicer.slice(conf, b, 1, TestModels.SEED, null);
        int m = 2;
        int mb = 16 / m;
        s0.beginStep(0, 0, mb);
        s1.beginStep(0, 0, mb);
        int[] inBackwardOf = {-1};
        List<Integer> order = new ArrayList<>();
        List<Integer> during = new ArrayList<>();
        Map<Integer, INDArray> atHandOver = new HashMap<>();
        Map<Integer, INDArray> views = new HashMap<>();
        java.util.function.ObjIntConsumer<INDArray> record = (g, layer) -> {
            order.add(layer);
            during.add(inBackwardOf[0]);
            try (org.nd4j.linalg.api.memory.MemoryWorkspace ws = org.nd4j.linalg.factory.Nd4j.getWorkspaceManager()
                    .scopeOutOfWorkspaces()) {
                atHandOver.put(layer, g.dup()); // the hand-over runs inside DL4J's backward workspace
            }
            views.put(layer, g);
        };
        s0.reduceEachLayerWhenDone(m, record);
        s1.reduceEachLayerWhenDone(m, record);
        for (int i = 0; i < m; i++) {
            INDArray x = ds.getFeatures().get(NDArrayIndex.interval(i * mb, (i + 1) * mb), NDArrayIndex.all());
            s1.forward(i, s0.forward(i, x, null), null);
        }
        for (int i = 0; i < m; i++) {
            INDArray y = ds.getLabels().get(NDArrayIndex.interval(i * mb, (i + 1) * mb), NDArrayIndex.all());
            inBackwardOf[0] = i;
            s0.backward(i, s1.backwardWithLabels(i, y, null));
            inBackwardOf[0] = -1;
        }
        assertEquals(List.of(3, 2, 1, 0), order, "top layer first, each once");
        assertEquals(List.of(1, 1, 1, 1), during, "during the last micro-batch's backward");
        for (int layer = 0; layer < 4; layer++) {
            assertEquals(atHandOver.get(layer), views.get(layer), "layer " + layer + "'s gradient was already whole");
            assertTrue(atHandOver.get(layer).norm2Number().doubleValue() > 0, "layer " + layer + " has a gradient");
        }
        s0.applyUpdate(16);
        s1.applyUpdate(16);
    }

    /**
     * Steps of one micro-batch with the update fused into the backward: parameters, Adam state and losses equal
     * DL4J's fit; the only gradient array is one layer long; the state taken from the stages continues training
     * exactly in new stages (a resumed run).
     */
    @Test
    void fusedUpdateMatchesFitAndResumesFromItsState() {
        MultiLayerConfiguration conf = TestModels.mlp(DataType.DOUBLE, TestModels.Opt.ADAM, 0);
        List<DataSet> data = TestModels.data("mlp", DataType.DOUBLE, 6, 16, 7);
        int[] b = {0, 2, 4};
        StageSlice[] s = {ModelSlicer.slice(conf, b, 0, TestModels.SEED, null, true, true),
                ModelSlicer.slice(conf, b, 1, TestModels.SEED, null, true, true)};
        assertTrue(s[0].fusesUpdate() && s[1].fusesUpdate());
        long largest = 0;
        for (int l = 0; l < 2; l++) {
            largest = Math.max(largest, LayerParameters.numParams(conf, l));
        }
        assertEquals(largest, s[0].gradientArrayLength(), "stage 0 holds one layer's gradient, not its own 2 layers'");
        List<Double> losses = new ArrayList<>();
        for (int step = 0; step < 3; step++) {
            losses.add(oneMicroBatchStep(s, step, data.get(step)));
        }
        Map<Integer, INDArray> params = new HashMap<>(s[0].parameters());
        params.putAll(s[1].parameters());
        Map<Integer, INDArray> state = new HashMap<>(s[0].updaterState());
        state.putAll(s[1].updaterState());
        StageSlice[] resumed = {ModelSlicer.slice(conf, b, 0, TestModels.SEED, params, true, true),
                ModelSlicer.slice(conf, b, 1, TestModels.SEED, params, true, true)};
        resumed[0].setUpdaterState(state);
        resumed[1].setUpdaterState(state);
        for (int step = 3; step < data.size(); step++) {
            losses.add(oneMicroBatchStep(resumed, step, data.get(step)));
        }
        List<Double> scores = new ArrayList<>();
        MultiLayerNetwork ref = TestModels.referenceFit(conf, data, 1, scores);
        Map<Integer, INDArray> got = new HashMap<>(resumed[0].parameters());
        got.putAll(resumed[1].parameters());
        Map<Integer, INDArray> gotState = new HashMap<>(resumed[0].updaterState());
        gotState.putAll(resumed[1].updaterState());
        double err = TestModels.maxRelativeError(got, ModelAssembler.split(ref));
        double stateErr = TestModels.maxRelativeError(gotState, LayerParameters.updaterState(ref, 0));
        System.out.println("fused update, resumed after 3 of 6 steps: max relative error " + err + ", Adam state " + stateErr);
        assertTrue(err <= 1e-12, "max relative error " + err);
        assertTrue(stateErr <= 1e-12, "updater state max relative error " + stateErr);
        for (int i = 0; i < scores.size(); i++) {
            assertEquals(scores.get(i), losses.get(i), 1e-12 * Math.abs(scores.get(i)), "loss of step " + i);
        }
    }

    @Test
    void fusedUpdateRefusesASecondMicroBatch() {
        MultiLayerConfiguration conf = TestModels.mlp(DataType.DOUBLE, TestModels.Opt.ADAM, 0);
        DataSet ds = TestModels.data("mlp", DataType.DOUBLE, 1, 16, 7).get(0);
        StageSlice last = ModelSlicer.slice(conf, new int[] {0, 4}, 0, TestModels.SEED, null, true, true);
        last.beginStep(0, 0, 8);
        for (int i = 0; i < 2; i++) {
            last.forward(i, ds.getFeatures().get(NDArrayIndex.interval(i * 8, (i + 1) * 8), NDArrayIndex.all()), null);
        }
        last.backwardWithLabels(0, ds.getLabels().get(NDArrayIndex.interval(0, 8), NDArrayIndex.all()), null);
        IllegalStateException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                () -> last.backwardWithLabels(1, ds.getLabels().get(NDArrayIndex.interval(8, 16), NDArrayIndex.all()), null));
        assertEquals("stage 0 updates each layer after its backward, which needs exactly one micro-batch per step; "
                + "step 0 has a second one", e.getMessage());
    }

    /** One step of one micro-batch through the stages, as a runtime would run it; returns fit's score for it. */
    private static double oneMicroBatchStep(StageSlice[] s, int step, DataSet ds) {
        int n = ds.numExamples();
        double reg = 0;
        for (StageSlice x : s) {
            x.beginStep(step, 0, n);
            reg += x.regularizationScore();
        }
        INDArray a = ds.getFeatures();
        for (StageSlice x : s) {
            a = x.forward(0, a, null);
        }
        INDArray g = s[s.length - 1].backwardWithLabels(0, ds.getLabels(), null);
        for (int k = s.length - 2; k >= 0; k--) {
            g = s[k].backward(0, g);
        }
        double loss = s[s.length - 1].lossSum() / n + reg;
        for (StageSlice x : s) {
            x.applyUpdate(n);
        }
        return loss;
    }
}
