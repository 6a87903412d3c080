package io.sparkmp.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

/** Per-layer parameters and updater state: deterministic init, assemble/split round trips, errors. */
class ModelAssemblerTest {

    private final MultiLayerConfiguration mlp = TestModels.mlp(DataType.DOUBLE, TestModels.Opt.ADAM, 0);

    @Test
    void initialParametersDependOnSeedAndLayerOnly() {
        INDArray a = LayerParameters.initial(mlp, 1, 7);
        // Initialising other layers (and other seeds) in between must not change layer 1.
        LayerParameters.initial(mlp, 0, 8);
        LayerParameters.initial(mlp, 2, 7);
        assertEquals(a, LayerParameters.initial(mlp, 1, 7));
        // Same shape, other layer or other seed: other weights.
        assertNotEquals(a, LayerParameters.initial(mlp, 2, 7));
        assertNotEquals(a, LayerParameters.initial(mlp, 1, 8));
        // A stage starts from exactly these weights, whatever the split.
        StageSlice s = ModelSlicer.slice(mlp, new int[] {0, 1, 3, 4}, 1, 7, null);
        assertEquals(a, s.parameters().get(1));
        assertEquals(LayerParameters.initial(mlp, 2, 7), s.parameters().get(2));
        assertEquals(16 * 16 + 16, a.length());
    }

    @Test
    void assembleThenSplitReturnsTheSameParameters() {
        Map<Integer, INDArray> p = LayerParameters.initial(TestModels.cnn(DataType.DOUBLE, TestModels.Opt.ADAM, true), 3);
        MultiLayerNetwork net = ModelAssembler.assemble(TestModels.cnn(DataType.DOUBLE, TestModels.Opt.ADAM, true), p);
        Map<Integer, INDArray> back = ModelAssembler.split(net);
        assertEquals(p.keySet(), back.keySet());
        assertEquals(List.of(0, 2, 3, 4), List.copyOf(back.keySet()), "pooling layer 1 has no parameters");
        for (Integer k : p.keySet()) {
            assertEquals(p.get(k), back.get(k));
        }
    }

    @Test
    void updaterStateRoundTripsThroughAnotherSplitAndContinuesLikeFit() {
        List<DataSet> data = TestModels.data("mlp", DataType.DOUBLE, 5, 16, 3);
        MultiLayerNetwork a = TestModels.referenceFit(mlp, data.subList(0, 3), 1, null);
        Map<Integer, INDArray> state = ModelAssembler.splitUpdaterState(a);
        assertEquals(4, state.size());
        // Adam keeps M and V per parameter.
        assertEquals(2 * (8 * 16 + 16), state.get(0).length());
        MultiLayerNetwork b = ModelAssembler.assemble(mlp, ModelAssembler.split(a), state);
        b.setIterationCount(3);
        for (DataSet ds : data.subList(3, 5)) {
            a.fit(ds);
            b.fit(ds);
        }
        assertTrue(TestModels.maxRelativeError(ModelAssembler.split(b), ModelAssembler.split(a)) == 0.0);
        // A stage takes the state of its own layers from the per-layer map.
        StageSlice s = ModelSlicer.slice(mlp, new int[] {0, 2, 4}, 1, TestModels.SEED, ModelAssembler.split(a));
        s.setUpdaterState(ModelAssembler.splitUpdaterState(a));
        assertEquals(ModelAssembler.splitUpdaterState(a).get(3), s.updaterState().get(3));
    }

    @Test
    void assembleRejectsMissingOrWrongSizedLayers() {
        Map<Integer, INDArray> p = new HashMap<>(LayerParameters.initial(mlp, 1));
        p.remove(2);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelAssembler.assemble(mlp, p));
        assertEquals("parameters of layer 2 (DenseLayer) must have 272 values, found none", e.getMessage());
        p.put(2, Nd4j.zeros(DataType.DOUBLE, 5));
        e = assertThrows(IllegalArgumentException.class, () -> ModelAssembler.assemble(mlp, p));
        assertEquals("parameters of layer 2 (DenseLayer) must have 272 values, found 5", e.getMessage());
        p.put(2, Nd4j.zeros(DataType.DOUBLE, 272));
        p.put(9, Nd4j.zeros(DataType.DOUBLE, 1));
        e = assertThrows(IllegalArgumentException.class, () -> ModelAssembler.assemble(mlp, p));
        assertEquals("parameters given for layer 9, but the model has layers 0..3", e.getMessage());
    }
}
