package io.sparkmp.spark;

import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;
import org.apache.spark.resource.ResourceInformation;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Map;

/**
 * The device a barrier task trains on. With {@code spark.task.resource.gpu.amount} set, Spark assigns the
 * task a GPU address ({@code TaskContext.resources()}); it is handed to ND4J's CUDA backend through the
 * affinity manager. On CPU, ND4J's and BLAS's thread pools are sized to the task's cores
 * ({@code spark.task.cpus}): more threads than cores is slower, and several tasks may share one JVM.
 *
 * @param gpu the GPU address Spark assigned, or null on CPU
 * @param threads ND4J/BLAS threads for this task
 */
record DeviceBinding(String gpu, int threads) {
    private static final Logger LOG = LoggerFactory.getLogger(DeviceBinding.class);

    /**
     * Reads the task's resources and binds ND4J to them on the calling thread.
     *
     * @throws IllegalStateException when {@code spark.task.resource.gpu.amount} asks for a GPU and the task has none
     */
    static DeviceBinding bind(TaskContext ctx) {
        Map<String, ResourceInformation> res = scala.collection.JavaConverters.mapAsJavaMap(ctx.resources());
        SparkEnv env = SparkEnv.get();
        String gpu = GpuCheck.taskGpu(env == null ? 0 : GpuCheck.taskAmount(env.conf()), res);
        int threads = Math.max(1, ctx.cpus());
        DeviceBinding b = new DeviceBinding(gpu, threads);
        b.apply();
        return b;
    }

    /** Whether this JVM's ND4J backend is CUDA (else the CPU backend: its compute runs on the host's cores). */
    static boolean cudaBackend() {
        String backend = Nd4j.getBackend().getClass().getName().toLowerCase(java.util.Locale.ROOT);
        return backend.contains("cuda") || backend.contains("cublas");
    }

    private void apply() {
        String backend = Nd4j.getBackend().getClass().getName();
        boolean cuda = cudaBackend();
        if (gpu != null) {
            if (cuda) {
                // ND4J keeps a per-thread device affinity; this thread runs the whole stage.
                Nd4j.getAffinityManager().unsafeSetDevice(Integer.parseInt(gpu.trim()));
            } else {
                LOG.warn("Spark assigned GPU {} but ND4J runs the CPU backend ({}): training on CPU", gpu, backend);
            }
        }
        if (!cuda) {
            Nd4j.getEnvironment().setMaxThreads(threads);
            Nd4j.factory().blas().setMaxThreads(threads);
        }
    }
}
