package io.sparkmp.bench;

import io.sparkmp.model.LayerProfiler;
import io.sparkmp.plan.ModelProfile;
import io.sparkmp.plan.PipelinePlan;
import io.sparkmp.plan.PipelinePlanner;
import io.sparkmp.plan.StagePlan;
import io.sparkmp.runtime.InProcessPipeline;
import io.sparkmp.runtime.PipelineSpec;
import io.sparkmp.schedule.ScheduleKind;
import org.bytedeco.javacpp.Pointer;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What one stage of {@link BatchModel} really holds per example of a micro-batch, against the planner's
 * estimate: runs the stage's layers in this JVM ({@link InProcessPipeline}, P = 1, one micro-batch per step, 2
 * steps) at growing micro-batch sizes and samples the process's physical bytes (javacpp
 * {@code Pointer.physicalBytes()}, the figure the cap is checked against) every millisecond from another thread.
 * The slope between two sizes, (peak(b) - peak(a)) / (b - a), is what one more example costs, free of everything
 * fixed (JVM, libraries, parameters, updater state); the estimate's slope is taken the same way from the plan.
 * Run with a pre-touched heap ({@code -Xms=-Xmx -XX:+AlwaysPreTouch}) so that the Java heap does not grow into
 * the sample.
 *
 * <p>{@code -DmicroBatches=M} (default 1) runs M micro-batches of each size per step (a mini-batch of M times
 * the size): a stage holds one at a time (P = 1), so a growth that rises with M is memory not yet freed, not
 * memory needed. {@code -Dstages=2} runs the plan's two stages (1F1B, stash), both in this process: their
 * estimates are summed. {@code -DgcWindowMs=N} runs {@code System.gc()} every N ms (memory that then stays is referenced, not garbage). Arguments: {@code <layers> <sizes...>}: the layers as a model of {@link BatchModel}'s layer list, e.g.
 * {@code full} (conv, pool, out) or {@code conv-out} (conv then the output layer), or {@code attention} / {@code recurrent-attention} (an attention layer,
 * pooling, softmax: {@code -Dsteps=T}), then micro-batch sizes in
 * increasing order, e.g. {@code 64 128 256}.
 */
public final class BatchMemoryTruth {

    private BatchMemoryTruth() {
    }

    public static void main(String[] args) throws Exception {
        String which = args[0];
        MultiLayerConfiguration conf = model(which);
        InputType input = inputType(which);
        ModelProfile profile = LayerProfiler.builder().build().analytic(conf, input, 1e10);
        int m = Integer.getInteger("microBatches", 1);
        int stages = Integer.getInteger("stages", 1);
        int gcWindowMs = Integer.getInteger("gcWindowMs", 0);
        if (gcWindowMs > 0) { // a full collection every N ms: dead arrays' native memory is freed soon after
            Thread gc = new Thread(() -> {
                while (true) {
                    System.gc();
                    try {
                        Thread.sleep(gcWindowMs);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }, "gc-every-" + gcWindowMs + "ms");
            gc.setDaemon(true);
            gc.start();
        }
        AtomicLong peak = new AtomicLong();
        Thread sampler = new Thread(() -> {
            while (!Thread.currentThread().isInterrupted()) {
                peak.accumulateAndGet(Pointer.physicalBytes(), Math::max);
                try {
                    Thread.sleep(1);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "rss-sampler");
        sampler.setDaemon(true);
        sampler.start();
        List<long[]> rows = new ArrayList<>();
        for (int k = 1; k < args.length; k++) {
            int mb = Integer.parseInt(args[k]);
            PipelinePlan plan = PipelinePlanner.builder().profile(profile).deviceMemoryBytes(Long.MAX_VALUE / 4)
                    .bandwidthBytesPerSecond(1e9).batchSize(mb * m).executors(stages).stages(stages).microBatches(m)
                    .schedule(ScheduleKind.ONE_F_ONE_B).recompute(io.sparkmp.plan.RecomputeMode.NEVER).build().plan();
            long total = 0;
            long acts = 0;
            long working = 0;
            long receive = 0;
            for (StagePlan st : plan.stages()) { // every rank runs in this process: their estimates add up
                total += st.memory().totalBytes();
                acts += st.memory().activationBytes();
                working += st.memory().workingBytes();
                receive += st.memory().receiveBytes();
            }
            List<DataSet> data = List.of(examples(which, 0, mb * m), examples(which, (long) mb * m, mb * m));
            System.gc();
            Thread.sleep(200);
            long start = Pointer.physicalBytes();
            peak.set(start);
            PipelineSpec spec = new PipelineSpec(conf.toJson(), plan.boundaries(), ScheduleKind.ONE_F_ONE_B, stages, 1, m,
                    mb * m, 7, new boolean[stages]);
            new InProcessPipeline(spec, null, Duration.ofSeconds(300)).fit(data, 1);
            Thread.sleep(20);
            rows.add(new long[] {mb, start, peak.get(), total});
            System.out.printf(Locale.ROOT, "P = " + stages + ", M = " + m + ", micro-batch %d: start %.1f MiB, peak %.1f MiB, growth %.1f MiB; estimate %.1f MiB "
                            + "(activations %.1f, working %.1f, receive %.1f)%n", mb, mib(start), mib(peak.get()),
                    mib(peak.get() - start), mib(total), mib(acts), mib(working), mib(receive));
        }
        sampler.interrupt();
        for (int i = 1; i < rows.size(); i++) {
            long[] a = rows.get(i - 1);
            long[] b = rows.get(i);
            double measured = (double) (b[2] - a[2]) / (b[0] - a[0]);
            double estimated = (double) (b[3] - a[3]) / (b[0] - a[0]);
            System.out.printf(Locale.ROOT, "slope %d -> %d: measured %.0f bytes per example, estimated %.0f (%.2fx)%n",
                    a[0], b[0], measured, estimated, measured / estimated);
        }
    }

    /** Input of the attention variants: 16 features per step. */
    static final int ATTENTION_FEATURES = 16;

    /** Steps of the attention variants: {@code -Dsteps=T}, default 128 (self-attention) or 32 (recurrent). */
    static int steps(String which) {
        return Integer.getInteger("steps", which.equals("recurrent-attention") ? 32 : 128);
    }

    static InputType inputType(String which) {
        if (which.endsWith("attention")) {
            return InputType.recurrent(ATTENTION_FEATURES, steps(which));
        }
        return which.equals("out") || which.equals("pool-out") ? InputType.convolutional(24, 24, 32)
                : InputType.convolutional(24, 24, 1);
    }

    /**
     * The attention variants: {@code attention} (SelfAttentionLayer, 4 heads of 8, 32 out, projected) or
     * {@code recurrent-attention} (RecurrentAttentionLayer, 4 heads of 8, 32 out, projected), then average pooling
     * and a softmax of 10, FLOAT: with T steps the layer's heads x T x T score matrices dominate the growth.
     */
    private static MultiLayerConfiguration attention(String which) {
        org.deeplearning4j.nn.conf.layers.Layer layer = which.equals("attention")
                ? new org.deeplearning4j.nn.conf.layers.SelfAttentionLayer.Builder().name("attn").nHeads(4).headSize(8)
                        .nOut(32).projectInput(true).build()
                : new org.deeplearning4j.nn.conf.layers.RecurrentAttentionLayer.Builder().name("attn").nHeads(4)
                        .headSize(8).nOut(32).projectInput(true).activation(Activation.TANH).build();
        return new NeuralNetConfiguration.Builder().seed(11).updater(new Adam(1e-3)).dataType(DataType.FLOAT).list()
                .layer(layer)
                .layer(new org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer.Builder(
                        org.deeplearning4j.nn.conf.layers.PoolingType.AVG).name("pool").build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).name("out").nOut(BatchModel.CLASSES)
                        .activation(Activation.SOFTMAX).build())
                .setInputType(inputType(which)).build();
    }

    /** The variant's configuration: BatchModel's layers, or a subset of them (same settings), or an attention model. */
    static MultiLayerConfiguration model(String which) {
        if (which.equals("attention") || which.equals("recurrent-attention")) {
            return attention(which);
        }
        NeuralNetConfiguration.ListBuilder b = new NeuralNetConfiguration.Builder().seed(11).updater(new Adam(1e-3))
                .dataType(DataType.FLOAT).activation(Activation.RELU).list();
        boolean conv = which.equals("full") || which.equals("conv-out");
        boolean pool = which.equals("full") || which.equals("pool-out");
        if (conv) {
            b.layer(new ConvolutionLayer.Builder(3, 3).name("conv").nOut(32).padding(1, 1).build());
        }
        if (pool) {
            b.layer(new SubsamplingLayer.Builder(SubsamplingLayer.PoolingType.MAX).name("pool").kernelSize(2, 2)
                    .stride(2, 2).build());
        }
        if (!conv && !pool && !which.equals("out")) {
            throw new IllegalArgumentException("layers: full, conv-out, pool-out or out, found " + which);
        }
        b.layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).name("out").nOut(BatchModel.CLASSES)
                .activation(Activation.SOFTMAX).build());
        return b.setInputType(which.equals("out") || which.equals("pool-out") ? InputType.convolutional(24, 24, 32)
                : InputType.convolutional(24, 24, 1)).build();
    }

    private static DataSet examples(String which, long first, int count) {
        if (which.endsWith("attention")) {
            org.nd4j.linalg.factory.Nd4j.getRandom().setSeed(first);
            org.nd4j.linalg.api.ndarray.INDArray labels = org.nd4j.linalg.factory.Nd4j.zeros(DataType.FLOAT, count,
                    BatchModel.CLASSES);
            for (int i = 0; i < count; i++) {
                labels.putScalar(i, (int) ((first + i) % BatchModel.CLASSES), 1f);
            }
            return new DataSet(org.nd4j.linalg.factory.Nd4j.rand(DataType.FLOAT, count, ATTENTION_FEATURES,
                    steps(which)), labels);
        }
        DataSet d = BatchModel.examples(first, count, 24, DataType.FLOAT);
        if (which.equals("out") || which.equals("pool-out")) { // 32 channels: the conv output's shape
            d.setFeatures(org.nd4j.linalg.factory.Nd4j.rand(DataType.FLOAT, count, 32, 24, 24));
        }
        return d;
    }

    private static double mib(long bytes) {
        return bytes / (1024.0 * 1024.0);
    }
}
