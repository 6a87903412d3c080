package io.sparkmp.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
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

/**
 * The model's first dense layer forms no input gradient (nothing reads the gradient of the model's input; DL4J's
 * fit forms it and drops it): the first stage's backward returns null, later stages still return theirs, and the
 * training equals fit, with one micro-batch (fused update and not) and with several (deferred weight gradients).
 */
class FirstLayerInputGradientTest {

    private static final int BATCH = 16;

    @Test
    void theFirstStageReturnsNoInputGradientAndTrainsAsFit() {
        MultiLayerConfiguration conf = TestModels.mlp(DataType.DOUBLE, TestModels.Opt.ADAM, 0);
        List<DataSet> data = TestModels.data("mlp", DataType.DOUBLE, 3, BATCH, 5);
        MultiLayerNetwork ref = TestModels.referenceFit(conf, data, 1, new ArrayList<>());
        for (int m : new int[] {1, 4}) {
            for (boolean fused : new boolean[] {false, true}) {
                if (fused && m > 1) {
                    continue; // a fused update steps one micro-batch
                }
                int[] b = {0, 2, 4};
                StageSlice[] s = {ModelSlicer.slice(conf, b, 0, TestModels.SEED, null, false, fused),
                    ModelSlicer.slice(conf, b, 1, TestModels.SEED, null, false, fused)};
                int mb = BATCH / m;
                for (int step = 0; step < data.size(); step++) {
                    DataSet ds = data.get(step);
                    for (StageSlice x : s) {
                        x.beginStep(step, 0, mb);
                        x.deferWeightGradients(m);
                    }
                    for (int i = 0; i < m; i++) {
                        s[1].forward(i, s[0].forward(i, TestModels.rows(ds.getFeatures(), i, mb), null), null);
                        INDArray g = s[1].backwardWithLabels(i, TestModels.rows(ds.getLabels(), i, mb), null);
                        assertNotNull(g, "stage 1 sends its input gradient");
                        assertArrayEquals(new long[] {mb, 16}, g.shape());
                        assertNull(s[0].backward(i, g), "M=" + m + " fused=" + fused + ": the model's input gradient");
                    }
                    for (StageSlice x : s) {
                        x.applyUpdate(BATCH);
                    }
                }
                Map<Integer, INDArray> got = new HashMap<>(s[0].parameters());
                got.putAll(s[1].parameters());
                double err = TestModels.maxRelativeError(got, ModelAssembler.split(ref));
                assertTrue(err <= 1e-9, "M=" + m + " fused=" + fused + ": max relative error against fit " + err);
            }
        }
    }
}
