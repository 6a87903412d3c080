package io.sparkmp.spark;

import io.sparkmp.model.TestModels;
import io.sparkmp.spark.testing.SparkStandaloneCluster;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Spark's GPU scheduling on a real standalone cluster without GPUs: each Worker claims one GPU through a
 * discovery script that reports address 0. Tasks asking for a GPU get it (and, on the CPU backend, train on the
 * CPU); executors asking for more GPUs than a Worker has never start, and the driver says so before launching,
 * naming the resource and what the executors reported.
 */
class GpuSchedulingIT {
    private static final Path FAKE_DISCOVERY = fakeDiscoveryScript();

    @RegisterExtension
    static final SparkStandaloneCluster CLUSTER = SparkStandaloneCluster.withWorkers(2).withoutSession()
            .workerConf("spark.worker.resource.gpu.amount", "1")
            .workerConf("spark.worker.resource.gpu.discoveryScript", FAKE_DISCOVERY.toString());

    private static final List<DataSet> DATA = TestModels.data("mlp", DataType.DOUBLE, 4, 8, 5);

    @Test
    void tasksAskingForAGpuGetOneAndTrain() throws Exception {
        SparkSession s = session(Map.of("spark.executor.resource.gpu.amount", "1",
                "spark.task.resource.gpu.amount", "1"));
        try {
            awaitExecutors(s, 2);
            assertEquals(Map.of("0", 1, "1", 1), GpuCheck.executorGpus(s.sparkContext()),
                    "each executor reported the Worker's one GPU");
            TrainingResult r = PipelineTrainer.builder(TestModels.mlp(DataType.DOUBLE, TestModels.Opt.ADAM, 0))
                    .stages(2).microBatches(2).batchSize(8).build()
                    .fit(JavaSparkContext.fromSparkContext(s.sparkContext()).parallelize(DATA, 2));
            assertEquals(DATA.size(), r.metrics().size(), "one step per mini-batch");
            assertTrue(Double.isFinite(r.metrics().get(DATA.size() - 1).loss()));
        } finally {
            s.stop();
        }
    }

    @Test
    void executorsThatCannotGetTheirGpusFailTheFitBeforeLaunchNamingWhatWasFound() {
        // Each Worker has one GPU, so executors asking for two are never granted: none registers.
        SparkSession s = session(Map.of("spark.executor.resource.gpu.amount", "2",
                "spark.task.resource.gpu.amount", "2", "spark.scheduler.maxRegisteredResourcesWaitingTime", "1s",
                "spark.mp.slotWaitTimeout", "3s"));
        try {
            long t0 = System.nanoTime();
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> PipelineTrainer
                    .builder(TestModels.mlp(DataType.DOUBLE, TestModels.Opt.ADAM, 0)).stages(2).microBatches(2)
                    .batchSize(8).build()
                    .fit(JavaSparkContext.fromSparkContext(s.sparkContext()).parallelize(DATA, 2)));
            double seconds = (System.nanoTime() - t0) / 1e9;
            assertTrue(e.getMessage().startsWith("stages (2) need 2 tasks with spark.task.resource.gpu.amount = 2.0"
                    + " each, but the 0 executor(s) report 0 GPU(s) {}, room for 0 such task(s): no executor found a"
                    + " GPU. Check spark.executor.resource.gpu.amount (2)"), e.getMessage());
            assertTrue(seconds < 30, "took " + seconds + " s");
            assertEquals(0, s.sparkContext().statusTracker().getJobIdsForGroup(null).length, "no job was launched");
        } finally {
            s.stop();
        }
    }

    private static SparkSession session(Map<String, String> extra) {
        SparkConf conf = CLUSTER.driverConf();
        extra.forEach(conf::set);
        return SparkSession.builder().config(conf).getOrCreate();
    }

    private static void awaitExecutors(SparkSession s, int n) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 120_000;
        while (s.sparkContext().statusTracker().getExecutorInfos().length - 1 < n) {
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("fewer than " + n + " executors registered within 120 s");
            }
            Thread.sleep(200);
        }
        // The status store (what GpuCheck reads) hears of executors through the listener bus, a little later.
        while (GpuCheck.executorGpus(s.sparkContext()).size() < n && System.currentTimeMillis() < deadline) {
            Thread.sleep(100);
        }
    }

    /** A discovery script that reports one GPU at address 0, as nvidia-smi would on a one-GPU machine. */
    private static Path fakeDiscoveryScript() {
        try {
            Path dir = Files.createDirectories(Path.of(System.getProperty("sparkmp.clusterDir", "target/spark-cluster")));
            Path f = dir.resolve("fake-gpu-discovery.sh");
            Files.writeString(f, "#!/bin/bash\necho '{\"name\": \"gpu\", \"addresses\": [\"0\"]}'\n");
            Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rwxr-xr-x"));
            return f.toAbsolutePath();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
