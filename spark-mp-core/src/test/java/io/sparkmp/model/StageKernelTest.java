package io.sparkmp.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/** The host-sharing probe's kernel: a part of the model run as a stage, step after step. */
class StageKernelTest {

    private static MultiLayerConfiguration mlp() {
        return new NeuralNetConfiguration.Builder().seed(1).dataType(DataType.FLOAT).updater(new Adam(1e-3)).list()
                .layer(new DenseLayer.Builder().nIn(4).nOut(6).activation(Activation.RELU).build())
                .layer(new DenseLayer.Builder().nIn(6).nOut(6).activation(Activation.RELU).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(6).nOut(3)
                        .activation(Activation.SOFTMAX).build())
                .build();
    }

    @Test
    void firstMiddleAndLastPartsRunWholeSteps() {
        int[][] parts = {{0, 1}, {1, 2}, {2, 3}, {0, 3}};
        for (int[] part : parts) {
            try (LayerProfiler.StageKernel k = LayerProfiler.kernel(mlp(), InputType.feedForward(4), part[0], part[1],
                    8, 4)) {
                double[] t = k.stepsFor(0, 3);
                assertEquals(3, t.length, "at least the asked steps, no time given: exactly them");
                for (double x : t) {
                    assertTrue(x > 0 && x < 10, "layers " + part[0] + ".." + part[1] + ": " + x + " s");
                }
                assertTrue(k.stepsFor(0.05, 1).length >= 1);
            }
        }
    }

    @Test
    void badRangesAreRefusedNamingThem() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LayerProfiler.kernel(mlp(), InputType.feedForward(4), 2, 2, 8, 4));
        assertTrue(e.getMessage().contains("[2, 2)"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> LayerProfiler.kernel(mlp(), InputType.feedForward(4), 0, 4, 8, 4));
        e = assertThrows(IllegalArgumentException.class,
                () -> LayerProfiler.kernel(mlp(), InputType.feedForward(4), 0, 1, 0, 4));
        assertTrue(e.getMessage().contains("found 0"), e.getMessage());
    }
}
