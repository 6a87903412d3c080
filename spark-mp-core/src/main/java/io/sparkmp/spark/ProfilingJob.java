package io.sparkmp.spark;

import io.sparkmp.model.LayerProfiler;
import io.sparkmp.plan.ModelProfile;
import org.apache.spark.SparkContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.Function;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;

import java.util.List;

/**
 * Measures a model's layer times where it will train: a one-task Spark job builds the network on an executor
 * and runs {@link LayerProfiler#measure} on random micro-batches of the model's input shape. The profile comes
 * back as Java-serialized bytes (Spark's Kryo 4 cannot serialize records).
 */
final class ProfilingJob {

    /** Spark job description of the profiling job (tests find it by this prefix). */
    static final String DESCRIPTION = "spark-mp profiling";

    private ProfilingJob() {
    }

    /**
     * Runs the job and returns the measured profile, filed under {@code profiler.cacheKey(conf, inputType)}
     * of a profiler with the same settings on the driver.
     */
    static ModelProfile run(SparkContext sc, MultiLayerConfiguration conf, InputType inputType, int sampleMicroBatch,
                            String hardware) {
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(sc);
        String previous = sc.getLocalProperty("spark.job.description");
        sc.setJobDescription(DESCRIPTION + " (" + conf.getConfs().size() + " layers, sample micro-batch "
                + sampleMicroBatch + ")");
        try {
            List<byte[]> out = jsc.parallelize(List.of(0), 1)
                    .map(new Measure(conf.toJson(), inputType, sampleMicroBatch, hardware)).collect();
            return JavaBytes.read(out.get(0), ModelProfile.class);
        } finally {
            sc.setJobDescription(previous);
        }
    }

    /** The profiler both sides use: the same settings give the same cache key on the driver and the executor. */
    static LayerProfiler profiler(int sampleMicroBatch, String hardware) {
        return LayerProfiler.builder().sampleMicroBatch(sampleMicroBatch).hardware(hardware).build();
    }

    /** The task body; holds only the model JSON and plain values. */
    private record Measure(String confJson, InputType inputType, int sampleMicroBatch, String hardware)
            implements Function<Integer, byte[]> {
        @Override
        public byte[] call(Integer ignored) {
            MultiLayerConfiguration conf = MultiLayerConfiguration.fromJson(confJson);
            return JavaBytes.of(profiler(sampleMicroBatch, hardware).measure(conf, inputType));
        }
    }
}
