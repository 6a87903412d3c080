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
}
