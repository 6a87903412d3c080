package io.sparkmp.spark;

import io.sparkmp.model.LayerProfiler;
import io.sparkmp.plan.ModelProfile;
import io.sparkmp.plan.RuntimeCosts;
import io.sparkmp.runtime.RuntimeProbe;
import io.sparkmp.transport.LinkProbe;
import org.apache.spark.SparkContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.Function;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;

import java.util.Arrays;
import java.util.List;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.GradientUpdater;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.Sgd;

/**
 * Measures a model's layer times where it will train: a one-task Spark job builds the network on an executor
 * and runs {@link LayerProfiler#measure} on random micro-batches of the model's input shape, then times the
 * model's updater on {@value #UPDATE_SAMPLE} parameters (the optimizer step, which the per-layer times do not
 * contain), and the runtime's fixed costs ({@link #runtimeCosts}): messages over loopback sockets, the LOAD of
 * a mini-batch of the model's shapes, and a step's work beyond its actions. It holds one layer at a time: the
 * profiler frees each layer before the next, and the updater sample is no larger than the model's largest layer. The result comes back as Java-serialized bytes (Spark's Kryo 4
 * cannot serialize records).
 */
final class ProfilingJob {

    /** Spark job description of the profiling job (tests find it by this prefix). */
    static final String DESCRIPTION = "spark-mp profiling";
    /** Parameters the updater is timed on, at most (never more than the largest layer has). */
    static final int UPDATE_SAMPLE = 1 << 20;

    private ProfilingJob() {
    }

    /**
     * Runs the job and returns the measured profile, filed under {@code profiler.cacheKey(conf, inputType)}
     * of a profiler with the same settings on the driver.
     */
    static MeasuredProfile run(SparkContext sc, MultiLayerConfiguration conf, InputType inputType, int sampleMicroBatch,
                            String hardware, int batchSize) {
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(sc);
        String previous = sc.getLocalProperty("spark.job.description");
        sc.setJobDescription(DESCRIPTION + " (" + conf.getConfs().size() + " layers, sample micro-batch "
                + sampleMicroBatch + ")");
        try {
            List<byte[]> out = jsc.parallelize(List.of(0), 1)
                    .map(new Measure(conf.toJson(), inputType, sampleMicroBatch, hardware, batchSize)).collect();
            return JavaBytes.read(out.get(0), MeasuredProfile.class);
        } finally {
            sc.setJobDescription(previous);
        }
    }

    /**
     * The profiler both sides use: the same settings give the same cache key on the driver and the executor.
     * Eight warm-up calls per layer and size, not two: the profile is often the first DL4J work of the executor
     * JVM, and measured here the first calls of a layer run up to 4x slower until the JIT has compiled them.
     */
    static LayerProfiler profiler(int sampleMicroBatch, String hardware) {
        return LayerProfiler.builder().sampleMicroBatch(sampleMicroBatch).warmup(8).hardware(hardware).build();
    }

    /** The task body; holds only the model JSON and plain values. */
    private record Measure(String confJson, InputType inputType, int sampleMicroBatch, String hardware, int batchSize)
            implements Function<Integer, byte[]> {
        @Override
        public byte[] call(Integer ignored) {
            MultiLayerConfiguration conf = MultiLayerConfiguration.fromJson(confJson);
            ModelProfile profile = profiler(sampleMicroBatch, hardware).measure(conf, inputType);
            return JavaBytes.of(new MeasuredProfile(profile, updateSecondsPerParameter(conf),
                    runtimeCosts(conf, inputType, batchSize)));
        }
    }

    /**
     * The runtime's fixed costs on this executor: a message's sender time and latency, fixed and per byte
     * ({@link LinkProbe}, 5 warm-up and 15 timed messages per size); LOAD per micro-batch and per example on a
     * mini-batch of the model's shapes of {@code batchSize} examples rounded up to a multiple of 8 (at most 512);
     * and a step's work beyond its actions ({@link RuntimeProbe}).
     */
    static RuntimeCosts runtimeCosts(MultiLayerConfiguration conf, InputType inputType, int batchSize) {
        LinkProbe.Result link = LinkProbe.measure(5, 15);
        int examples = Math.min(512, Math.max(8, (batchSize + 7) / 8 * 8));
        double[] load = RuntimeProbe.loadSeconds(conf, inputType, examples, 3, 7);
        double step = RuntimeProbe.stepOverheadSeconds(20, 31);
        return new RuntimeCosts(link.sendSeconds(), link.sendSecondsPerByte(), link.latencySeconds(),
                link.latencySecondsPerByte(), load[0], load[1], step);
    }

    /**
     * Median seconds per parameter of what the runtime does once per mini-batch for each parameter: the updater
     * step on the step's gradient (summed in place in the network's gradient view) and applying it
     * ({@code params -= update}); 2 warm-up and 5 timed repeats on {@link #sampleSize} parameters, freed before
     * returning.
     */
    static double updateSecondsPerParameter(MultiLayerConfiguration conf) {
        IUpdater updater = new Sgd(0.1);
        for (NeuralNetConfiguration c : conf.getConfs()) {
            if (c.getLayer() instanceof BaseLayer bl && bl.getIUpdater() != null) {
                updater = bl.getIUpdater().clone();
                break;
            }
        }
        DataType dt = conf.getDataType();
        int n = sampleSize(conf);
        long stateSize = updater.stateSize(n);
        INDArray state = stateSize == 0 ? null : Nd4j.zeros(dt, 1, stateSize);
        GradientUpdater<?> u = updater.instantiate(state, true);
        INDArray params = Nd4j.rand(dt, 1, n);
        INDArray gradient = Nd4j.rand(dt, 1, n);
        INDArray step = gradient.dup();
        double[] t = new double[5];
        for (int r = -2; r < t.length; r++) {
            long t0 = System.nanoTime();
            u.applyUpdater(step, Math.max(0, r + 2), 0);
            params.subi(step);
            long t1 = System.nanoTime();
            step.assign(gradient); // untimed: the next repeat starts from the same gradient
            if (r >= 0) {
                t[r] = (t1 - t0) / 1e9;
            }
        }
        for (INDArray a : new INDArray[] {state, params, gradient, step}) {
            if (a != null && a.closeable()) {
                a.close();
            }
        }
        Arrays.sort(t);
        return t[t.length / 2] / n;
    }

    /**
     * Parameters the updater is timed on: {@link #UPDATE_SAMPLE}, or the largest layer's count when smaller (the
     * job then never holds more than one layer's worth); at least 1.
     */
    static int sampleSize(MultiLayerConfiguration conf) {
        long largest = 1;
        for (NeuralNetConfiguration c : conf.getConfs()) {
            largest = Math.max(largest, c.getLayer().initializer().numParams(c));
        }
        return (int) Math.min(UPDATE_SAMPLE, largest);
    }
}
