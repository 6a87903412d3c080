package io.sparkmp.model;

import io.sparkmp.plan.ModelProfile;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * What the profile says a convolution and a pooling layer need per example, by hand from the arrays DL4J's
 * backward holds (see {@link LayerProfiler#workingBytesPerExample}). Model: conv 3x3 1-&gt;32 (same) on 24x24,
 * max-pool 2x2, softmax 10, FLOAT: the conv's output is 32 x 576 floats = 73 728 bytes, its column buffer
 * 9 x 576 floats = 20 736 bytes, its input 2 304 bytes; the pool's output 18 432 bytes.
 */
class ConvolutionMemoryTest {

    private static final ModelProfile P = LayerProfiler.builder().build().analytic(AnalyticMicroBatchCostTest.conv(),
            InputType.convolutional(24, 24, 1), 1e10);

    @Test
    void aConvolutionNeedsFourOutputsTwoColumnBuffersAndItsInputGradient() {
        assertEquals(4 * 73_728 + 2 * 20_736 + 2_304, P.layer(0).workingBytesPerExample());
        assertEquals(2_304, P.layer(0).keptBytesPerExample(), "its input, kept for the backward");
        assertEquals(73_728, P.layer(0).outputBytesPerExample());
    }

    @Test
    void aPoolingLayerNeedsItsInputGradientTheGradientAtItsOutputAndDl4jsWorkingMemory() {
        // DL4J's report: 73 728 bytes of working memory; + the input gradient 73 728 + the output gradient 18 432.
        assertEquals(73_728 + 73_728 + 18_432, P.layer(1).workingBytesPerExample());
        assertEquals(73_728, P.layer(1).keptBytesPerExample());
    }

    @Test
    void otherLayersKeepTheReportPlusTheInputGradient() {
        // The output layer: DL4J reports 40 bytes (its 10 outputs) of working memory; its input gradient 18 432.
        assertEquals(40 + 18_432, P.layer(2).workingBytesPerExample());
    }
}
