package io.sparkmp.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparkmp.plan.LayerProfile;
import io.sparkmp.plan.ModelProfile;
import io.sparkmp.plan.PipelinePlan;
import io.sparkmp.plan.PipelinePlanner;

import java.util.List;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class LayerProfilerTest {

    private static final LayerProfiler PROFILER = LayerProfiler.builder().sampleMicroBatch(4).warmup(1).repeats(3)
            .hardware("test machine").build();

    /** Checks a measured profile against the built network: parameters, activation sizes, updater, times. */
    private static void checkAgainstNetwork(MultiLayerConfiguration conf, InputType in, long[] inputShape) {
        ModelProfile p = PROFILER.measure(conf, in);
        MultiLayerNetwork net = new MultiLayerNetwork(conf.clone());
        net.init();
        assertEquals(net.getnLayers(), p.layerCount());
        assertEquals(net.numParams(), p.totalParameters());
        int mb = 3;
        long[] shape = inputShape.clone();
        shape[0] = mb;
        List<INDArray> acts = net.feedForward(Nd4j.rand(DataType.FLOAT, shape), false);
        for (int i = 0; i < p.layerCount(); i++) {
            LayerProfile l = p.layer(i);
            assertEquals(net.getLayer(i).numParams(), l.parameters(), "layer " + i);
            assertEquals(4 * l.parameters(), l.parameterBytes(), "layer " + i + " FLOAT parameters");
            assertEquals(l.parameterBytes(), l.gradientBytes(), "layer " + i);
            // Adam keeps two moments per trained parameter; batch norm's running mean and variance (half of
            // its parameters) are not trained by the updater.
            long trained = l.type().equals("BatchNormalization") ? l.parameterBytes() / 2 : l.parameterBytes();
            assertEquals(2 * trained, l.updaterBytes(), "layer " + i + " (" + l.type() + ")");
            long outputElements = acts.get(i + 1).length() / mb; // product of the output shape per example
            assertEquals(outputElements * 4, l.outputBytesPerExample(), "layer " + i);
            assertTrue(l.forwardSeconds(mb) > 0 && l.backwardSeconds(mb) > 0, "layer " + i + ": " + l);
            assertTrue(l.forwardFlopsPerExample() > 0, "layer " + i);
        }
        assertEquals(ModelProfile.TimeSource.MEASURED, p.timeSource());
        assertEquals("Adam", p.updater());
        assertEquals("FLOAT", p.dataType());
        assertEquals(PROFILER.cacheKey(conf, in), p.cacheKey());
        assertEquals(p, ModelProfile.fromJson(p.toJson()));
    }

    @Test
    void mlpProfileMatchesTheNetwork() {
        MultiLayerConfiguration conf = TestModels.mlp(DataType.FLOAT, TestModels.Opt.ADAM, 0);
        checkAgainstNetwork(conf, InputType.feedForward(8), new long[] {0, 8});
        ModelProfile p = PROFILER.analytic(conf, InputType.feedForward(8), 1e9);
        // Dense 8 -> 16: 8*16 weights + 16 biases = 144 parameters, 2 * 144 FLOPs per example.
        assertEquals(144, p.layer(0).parameters());
        assertEquals(288, p.layer(0).forwardFlopsPerExample(), 1e-9);
        assertEquals(LayerProfiler.ANALYTIC_CALL_SECONDS + 288e-9, p.layer(0).forwardSeconds(1), 1e-18);
        assertEquals(32, p.inputBytesPerExample());
        assertEquals(32 + 64, p.layer(0).keptBytesPerExample(),
                "the input of 8 floats and the pre-activation of 16 floats are kept for backward");
    }

    @Test
    void cnnProfileMatchesTheNetwork() {
        MultiLayerConfiguration conf = TestModels.cnn(DataType.FLOAT, TestModels.Opt.ADAM, false);
        checkAgainstNetwork(conf, InputType.convolutionalFlat(8, 8, 1), new long[] {0, 64});
        ModelProfile p = PROFILER.analytic(conf, InputType.convolutionalFlat(8, 8, 1), 1e9);
        // conv 3x3, 1 -> 4 channels, no padding: output 4 x 6 x 6 = 144 elements.
        assertEquals(144 * 4, p.layer(0).outputBytesPerExample());
        assertEquals(40, p.layer(0).parameters());
        // 2 x 36 weights x 36 output positions.
        assertEquals(2.0 * 40 * 36, p.layer(0).forwardFlopsPerExample(), 1e-9);
        // max-pool 2x2: 4 x 3 x 3.
        assertEquals(36 * 4, p.layer(1).outputBytesPerExample());
    }

    /** DL4J's SameDiff layers report no memory figures (its getMemoryBytes threw on them): counted from their parameters. */
    @Test
    void attentionModelsProfileToo() {
        MultiLayerConfiguration conf = new org.deeplearning4j.nn.conf.NeuralNetConfiguration.Builder().seed(1)
                .dataType(DataType.FLOAT).updater(new org.nd4j.linalg.learning.config.Adam(1e-3)).list()
                .layer(new org.deeplearning4j.nn.conf.layers.LSTM.Builder().nOut(6).build())
                .layer(new org.deeplearning4j.nn.conf.layers.SelfAttentionLayer.Builder().nHeads(2).headSize(3).nOut(6)
                        .projectInput(true).build())
                .layer(new org.deeplearning4j.nn.conf.layers.RecurrentAttentionLayer.Builder().nHeads(1).headSize(6)
                        .nOut(6).projectInput(true).build())
                .layer(new org.deeplearning4j.nn.conf.layers.RnnOutputLayer.Builder().nOut(3)
                        .activation(org.nd4j.linalg.activations.Activation.SOFTMAX).build())
                .setInputType(InputType.recurrent(4, 5)).build();
        checkAgainstNetwork(conf, InputType.recurrent(4, 5), new long[] {0, 4, 5});
    }

    @Test
    void recurrentAndBatchNormModelsProfileToo() {
        checkAgainstNetwork(TestModels.lstm(DataType.FLOAT, TestModels.Opt.ADAM), InputType.recurrent(4, 5),
                new long[] {0, 4, 5});
        checkAgainstNetwork(TestModels.cnn(DataType.FLOAT, TestModels.Opt.ADAM, true),
                InputType.convolutionalFlat(8, 8, 1), new long[] {0, 64});
    }

    @Test
    void measuredAndAnalyticProfilesAgreeOnEverythingButTimes() {
        // Measured: each layer built alone as a one-layer stage, on the previous layer's output (the pooling
        // layer's 4d output feeds the dense layer through its preprocessor).
        MultiLayerConfiguration conf = TestModels.cnn(DataType.FLOAT, TestModels.Opt.ADAM, true);
        InputType in = InputType.convolutionalFlat(8, 8, 1);
        ModelProfile measured = PROFILER.measure(conf, in);
        ModelProfile analytic = PROFILER.analytic(conf, in, 1e9);
        assertEquals(analytic.layerCount(), measured.layerCount());
        for (int i = 0; i < measured.layerCount(); i++) {
            LayerProfile a = analytic.layer(i);
            LayerProfile b = measured.layer(i);
            assertEquals(a.name(), b.name(), "layer " + i);
            assertEquals(a.parameters(), b.parameters(), "layer " + i);
            assertEquals(a.staticBytes(), b.staticBytes(), "layer " + i);
            assertEquals(a.outputBytesPerExample(), b.outputBytesPerExample(), "layer " + i);
            assertEquals(a.keptBytesPerExample(), b.keptBytesPerExample(), "layer " + i);
            assertTrue(b.backwardSeconds(4) > 0, "layer " + i + ": " + b);
        }
    }

    @Test
    void aLayerTheRuntimeCannotRunIsRejectedBeforeTiming() {
        MultiLayerConfiguration conf = new org.deeplearning4j.nn.conf.NeuralNetConfiguration.Builder().list()
                .layer(new org.deeplearning4j.nn.conf.layers.DenseLayer.Builder().nIn(4).nOut(4).build())
                .layer(new org.deeplearning4j.nn.conf.layers.CenterLossOutputLayer.Builder().nIn(4).nOut(2).build())
                .build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> PROFILER.measure(conf, InputType.feedForward(4)));
        assertTrue(e.getMessage().contains("CenterLossOutputLayer"), e.getMessage());
    }

    @Test
    void cacheKeyFollowsModelAndHardware() {
        MultiLayerConfiguration a = TestModels.mlp(DataType.FLOAT, TestModels.Opt.ADAM, 0);
        MultiLayerConfiguration b = TestModels.mlp(DataType.FLOAT, TestModels.Opt.NESTEROVS, 0);
        InputType in = InputType.feedForward(8);
        assertEquals(PROFILER.cacheKey(a, in), PROFILER.cacheKey(a.clone(), in));
        assertNotEquals(PROFILER.cacheKey(a, in), PROFILER.cacheKey(b, in));
        LayerProfiler other = LayerProfiler.builder().sampleMicroBatch(4).warmup(1).repeats(3).hardware("gpu").build();
        assertNotEquals(PROFILER.cacheKey(a, in), other.cacheKey(a, in));
        assertEquals(LayerProfiler.UNNAMED_HARDWARE, LayerProfiler.builder().build().hardware());
    }

    @Test
    void measuredProfilePlansAndExplains() {
        MultiLayerConfiguration conf = TestModels.cnn(DataType.FLOAT, TestModels.Opt.ADAM, false);
        ModelProfile p = PROFILER.measure(conf, InputType.convolutionalFlat(8, 8, 1));
        PipelinePlan plan = PipelinePlanner.builder().profile(p).executors(2).deviceMemoryBytes(64L << 20)
                .bandwidthBytesPerSecond(1e9).batchSize(16).stages(2).build().plan();
        assertEquals(2, plan.numStages());
        assertEquals(p.totalParameters(), plan.stage(0).parameters() + plan.stage(1).parameters());
        assertTrue(plan.explain().contains("layer times measured"), plan.explain());
    }

    @Test
    void badSettingsAreRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LayerProfiler.builder().sampleMicroBatch(0));
        assertEquals("sampleMicroBatch must be positive, found 0", e.getMessage());
        assertThrows(IllegalStateException.class, () -> LayerProfiler.builder().repeats(2).repeats(3));
        assertThrows(IllegalArgumentException.class, () -> PROFILER.analytic(
                TestModels.mlp(DataType.FLOAT, TestModels.Opt.ADAM, 0), InputType.feedForward(8), 0));
    }

    /**
     * The profiler holds one layer at a time: profiling 8 dense 2048x2048 layers (each 16 MiB of parameters and
     * 16 MiB of gradients once built) grows this process's resident bytes by at most two layers' parameters and
     * gradients plus 64 MiB (inputs, outputs, workspaces, heap), where keeping every layer until the garbage
     * collector finds it holds up to 8 layers (256 MiB and more). Sampled every 10 ms from another thread.
     */
    @Test
    void measureHoldsOneLayerAtATime() throws Exception {
        int width = 2048;
        org.deeplearning4j.nn.conf.NeuralNetConfiguration.ListBuilder b =
                new org.deeplearning4j.nn.conf.NeuralNetConfiguration.Builder().seed(1).dataType(DataType.FLOAT)
                        .updater(new org.nd4j.linalg.learning.config.Adam(1e-3)).list();
        for (int i = 0; i < 8; i++) {
            b.layer(new org.deeplearning4j.nn.conf.layers.DenseLayer.Builder().nIn(width).nOut(width)
                    .activation(org.nd4j.linalg.activations.Activation.RELU).build());
        }
        MultiLayerConfiguration conf = b.layer(new org.deeplearning4j.nn.conf.layers.OutputLayer.Builder(
                org.nd4j.linalg.lossfunctions.LossFunctions.LossFunction.MCXENT).nIn(width).nOut(10)
                .activation(org.nd4j.linalg.activations.Activation.SOFTMAX).build()).build();
        System.gc();
        long start = org.bytedeco.javacpp.Pointer.physicalBytes();
        java.util.concurrent.atomic.AtomicLong peak = new java.util.concurrent.atomic.AtomicLong(start);
        java.util.concurrent.atomic.AtomicBoolean run = new java.util.concurrent.atomic.AtomicBoolean(true);
        Thread sampler = new Thread(() -> {
            while (run.get()) {
                peak.accumulateAndGet(org.bytedeco.javacpp.Pointer.physicalBytes(), Math::max);
                try {
                    Thread.sleep(10);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        sampler.setDaemon(true);
        sampler.start();
        try {
            LayerProfiler.builder().sampleMicroBatch(8).warmup(1).repeats(2).build()
                    .measure(conf, InputType.feedForward(width));
        } finally {
            run.set(false);
            sampler.join(1000);
        }
        long layerBytes = 2L * width * width * 4; // parameters + gradients of one layer
        long grown = peak.get() - start;
        System.out.println("LayerProfilerTest: profiling 8 layers of " + width + "x" + width + " grew the process by "
                + (grown >> 20) + " MiB");
        assertTrue(grown <= 2 * layerBytes + (64L << 20), "profiling grew the process by " + (grown >> 20)
                + " MiB; one layer's parameters and gradients are " + (layerBytes >> 20) + " MiB");
    }
}
