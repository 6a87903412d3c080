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

/**
 * The kept pre-activation of dense layers ({@link DeferredDenseLayer}): a stage's backward reads z = X·W + b from
 * its micro-batch's forward instead of forming it again. Stages driven by hand: the reads are counted per layer,
 * the parameters are bit-identical to the same stages forming z again, and equal to DL4J's fit. (Weight noise, whose
 * layer forms z again, is refused by the stages before any step.)
 */
class KeptPreActivationTest {

    private static final int BATCH = 16;

    /**
     * Stash and recompute, GPipe and 1F1B order, M = 1 and 4, without and with dropout (dense layers 1 and 2): every
     * dense backward reads its kept z.
     */
    @Test
    void everyDenseBackwardReadsItsForwardsPreActivationAndTrainingIsUnchanged() {
        List<DataSet> data = TestModels.data("mlp", DataType.DOUBLE, 3, BATCH, 11);
        for (double dropout : new double[] {0, 0.8}) {
        MultiLayerConfiguration conf = TestModels.mlp(DataType.DOUBLE, TestModels.Opt.ADAM, dropout);
        MultiLayerNetwork ref = dropout == 0 ? TestModels.referenceFit(conf, data, 1, new ArrayList<>()) : null;
        for (boolean recompute : new boolean[] {false, true}) {
            for (boolean oneFOneB : new boolean[] {false, true}) {
                for (int m : new int[] {1, 4}) {
                    String name = "dropout " + dropout + ", " + (recompute ? "recompute" : "stash") + (oneFOneB ? " 1F1B" : " GPipe") + " M=" + m;
                    StageSlice[] kept = stages(conf, recompute);
                    StageSlice[] formed = stages(conf, recompute);
                    for (StageSlice x : formed) {
                        x.keepPreActivations(false);
                    }
                    for (int step = 0; step < data.size(); step++) {
                        run(kept, data.get(step), step, m, oneFOneB);
                        run(formed, data.get(step), step, m, oneFOneB);
                    }
                    // stage 0: dense 0 and 1; stage 1: dense 2 (its forward runs with its backward) and the output
                    long reads = (long) data.size() * m;
                    assertEquals(reads, kept[0].keptPreActivationReads(0), name + ": stage 0 layer 0");
                    assertEquals(reads, kept[0].keptPreActivationReads(1), name + ": stage 0 layer 1");
                    assertEquals(reads, kept[1].keptPreActivationReads(0), name + ": stage 1 layer 0");
                    assertEquals(-1, kept[1].keptPreActivationReads(1), name + ": the output layer is not a dense layer");
                    assertEquals(0, formed[0].keptPreActivationReads(0), name + ": switched off");
                    Map<Integer, INDArray> a = params(kept);
                    Map<Integer, INDArray> b = params(formed);
                    for (Map.Entry<Integer, INDArray> e : a.entrySet()) {
                        assertEquals(b.get(e.getKey()), e.getValue(), name + ": layer " + e.getKey()
                                + " differs from the stages that form z again");
                    }
                    if (dropout == 0) {
                        // (with dropout, fit's masks come from DL4J's random stream, not the stages' example-keyed
                        // masks: DropoutAndBatchNormTest compares those runs against fit through the runtime)
                        double err = TestModels.maxRelativeError(a, ModelAssembler.split(ref));
                        assertTrue(err <= 1e-9, name + ": max relative error against fit " + err);
                    }
                }
            }
        }
        }
    }

    private static StageSlice[] stages(MultiLayerConfiguration conf, boolean recompute) {
        int[] b = {0, 2, 4};
        return new StageSlice[] {ModelSlicer.slice(conf, b, 0, TestModels.SEED, null, recompute),
                ModelSlicer.slice(conf, b, 1, TestModels.SEED, null, recompute)};
    }

    /** One step; 1F1B order on two stages is F0 F1 B0 F2 B1 ... (stage 0 has two micro-batches in flight). */
    private static void run(StageSlice[] s, DataSet ds, int step, int m, boolean oneFOneB) {
        int mb = BATCH / m;
        for (StageSlice x : s) {
            x.beginStep(step, 0, mb);
            x.deferWeightGradients(m);
        }
        StageSlice first = s[0];
        StageSlice last = s[s.length - 1];
        if (s.length == 1) {
            for (int i = 0; i < m; i++) {
                first.forward(i, TestModels.rows(ds.getFeatures(), i, mb), null);
            }
            for (int i = 0; i < m; i++) {
                first.backwardWithLabels(i, TestModels.rows(ds.getLabels(), i, mb), null);
            }
        } else if (!oneFOneB) {
            List<INDArray> acts = new ArrayList<>();
            for (int i = 0; i < m; i++) {
                acts.add(first.forward(i, TestModels.rows(ds.getFeatures(), i, mb), null));
            }
            for (int i = 0; i < m; i++) {
                last.forward(i, acts.get(i), null);
            }
            for (int i = 0; i < m; i++) {
                first.backward(i, last.backwardWithLabels(i, TestModels.rows(ds.getLabels(), i, mb), null));
            }
        } else {
            Map<Integer, INDArray> acts = new HashMap<>();
            acts.put(0, first.forward(0, TestModels.rows(ds.getFeatures(), 0, mb), null));
            for (int i = 0; i < m; i++) {
                if (i + 1 < m) {
                    acts.put(i + 1, first.forward(i + 1, TestModels.rows(ds.getFeatures(), i + 1, mb), null));
                }
                last.forward(i, acts.remove(i), null);
                first.backward(i, last.backwardWithLabels(i, TestModels.rows(ds.getLabels(), i, mb), null));
            }
        }
        for (StageSlice x : s) {
            x.applyUpdate(BATCH);
        }
    }

    private static Map<Integer, INDArray> params(StageSlice[] s) {
        Map<Integer, INDArray> out = new HashMap<>();
        for (StageSlice x : s) {
            out.putAll(x.parameters());
        }
        return out;
    }
}
