package io.sparkmp.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.deeplearning4j.nn.conf.dropout.AlphaDropout;
import org.deeplearning4j.nn.conf.dropout.GaussianDropout;
import org.deeplearning4j.nn.conf.dropout.GaussianNoise;
import org.deeplearning4j.nn.conf.dropout.IDropout;
import org.deeplearning4j.nn.conf.dropout.SpatialDropout;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Each DL4J dropout kind keeps its semantics when its noise is keyed by example. */
class ExampleSeededDropoutTest {

    private static INDArray apply(IDropout kind, INDArray x, int examples, long firstExample) {
        ExampleSeededDropout d = ExampleSeededDropout.of(kind, 7, 3, new ExampleSeededDropout.Context());
        d.setContext(0, firstExample, examples);
        return d.applyDropout(x, x.ulike(), 0, 0, LayerWorkspaceMgr.noWorkspaces());
    }

    @Test
    void gaussianDropoutMultipliesByNoiseOfMeanOneAndTheStatedVariance() {
        INDArray ones = Nd4j.ones(DataType.DOUBLE, 200, 500);
        INDArray out = apply(new GaussianDropout(0.2), ones, 200, 0);
        double mean = out.meanNumber().doubleValue();
        double var = out.varNumber().doubleValue();
        assertEquals(1.0, mean, 0.01);
        assertEquals(0.2 / 0.8, var, 0.01); // DL4J: stdev = sqrt(rate / (1 - rate))
    }

    @Test
    void gaussianNoiseAddsZeroMeanNoiseAndPassesTheGradient() {
        INDArray zeros = Nd4j.zeros(DataType.DOUBLE, 200, 500);
        ExampleSeededDropout d = ExampleSeededDropout.of(new GaussianNoise(0.3), 7, 3, new ExampleSeededDropout.Context());
        d.setContext(0, 0, 200);
        INDArray out = d.applyDropout(zeros, zeros.ulike(), 0, 0, LayerWorkspaceMgr.noWorkspaces());
        assertEquals(0.0, out.meanNumber().doubleValue(), 0.01);
        assertEquals(0.3, out.stdNumber().doubleValue(), 0.01);
        INDArray g = Nd4j.rand(DataType.DOUBLE, 200, 500);
        assertEquals(g, d.backprop(g, g.ulike(), 0, 0));
    }

    @Test
    void alphaDropoutKeepsZeroMeanUnitVariance() {
        // SELU's self-normalising property, which DL4J's a(p), b(p) are chosen for.
        INDArray x = Nd4j.randn(DataType.DOUBLE, 400, 500);
        INDArray out = apply(new AlphaDropout(0.8), x, 400, 0);
        assertEquals(0.0, out.meanNumber().doubleValue(), 0.02);
        assertEquals(1.0, out.varNumber().doubleValue(), 0.03);
    }

    @Test
    void spatialDropoutDropsWholeChannelsPerExample() {
        INDArray ones = Nd4j.ones(DataType.DOUBLE, 50, 8, 6, 6);
        INDArray out = apply(new SpatialDropout(0.5), ones, 50, 0);
        int dropped = 0;
        for (int e = 0; e < 50; e++) {
            for (int c = 0; c < 8; c++) {
                INDArray ch = out.get(org.nd4j.linalg.indexing.NDArrayIndex.point(e), org.nd4j.linalg.indexing.NDArrayIndex.point(c));
                double min = ch.minNumber().doubleValue();
                double max = ch.maxNumber().doubleValue();
                assertEquals(min, max, "one value per channel");
                assertTrue(max == 0.0 || max == 2.0, "0 or 1/p, found " + max);
                dropped += max == 0.0 ? 1 : 0;
            }
        }
        assertTrue(dropped > 150 && dropped < 250, "about half the 400 channels dropped: " + dropped);
        assertThrows(IllegalStateException.class, () -> apply(new SpatialDropout(0.5), Nd4j.ones(DataType.DOUBLE, 4, 3), 4, 0));
    }

    @Test
    void noiseIsKeyedByExampleNotByMicroBatch() {
        INDArray x = Nd4j.ones(DataType.DOUBLE, 8, 20);
        for (IDropout kind : new IDropout[] {new GaussianDropout(0.3), new GaussianNoise(0.2), new AlphaDropout(0.7)}) {
            INDArray whole = apply(kind, x, 8, 0);
            INDArray secondHalf = apply(kind, x.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(4, 8),
                    org.nd4j.linalg.indexing.NDArrayIndex.all()).dup(), 4, 4);
            assertEquals(whole.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(4, 8), org.nd4j.linalg.indexing.NDArrayIndex.all()),
                    secondHalf, kind.getClass().getSimpleName());
        }
    }
}
