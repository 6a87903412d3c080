package io.sparkmp.spark;

import io.sparkmp.schedule.ScheduleKind;
import io.sparkmp.spark.testing.SparkStandaloneCluster;
import org.apache.spark.api.java.JavaRDD;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Memory truth on two executor JVMs (512 MiB heap, javacpp cap 1500m each, as in the capacity figures): the
 * budget derived from what an executor really holds, and per stage the planner's estimate against the measured
 * peak of resident bytes over the first steps, less the resident bytes at task start.
 */
class StageMemoryIT {

    static final long CAP = 1500L << 20;

    @RegisterExtension
    static final SparkStandaloneCluster CLUSTER = SparkStandaloneCluster.withWorkers(2)
            .conf("spark.mp.slotWaitTimeout", "30s")
            .conf("spark.mp.transport.ioTimeout", "60s")
            .conf("spark.executor.extraJavaOptions", "-Dorg.bytedeco.javacpp.maxphysicalbytes=1500m"
                    + " -Dorg.bytedeco.javacpp.cachedir=" + System.getProperty("sparkmp.javacppCache")
                    + " -Djava.io.tmpdir=" + System.getProperty("java.io.tmpdir"));

    /** MLP 784-Wx4-10, ReLU, softmax, Adam, FLOAT (W = 1024: the project's model M1, 3.96 M parameters). */
    static MultiLayerConfiguration model(int width) {
        NeuralNetConfiguration.ListBuilder b = new NeuralNetConfiguration.Builder().seed(5).dataType(DataType.FLOAT)
                .updater(new Adam(1e-3)).list();
        int nIn = 784;
        for (int i = 0; i < 4; i++) {
            b.layer(new DenseLayer.Builder().nIn(nIn).nOut(width).activation(Activation.RELU).build());
            nIn = width;
        }
        return b.layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(nIn).nOut(10)
                .activation(Activation.SOFTMAX).build()).build();
    }

    static JavaRDD<DataSet> data(int examples) {
        Nd4j.getRandom().setSeed(3);
        INDArray x = Nd4j.rand(DataType.FLOAT, examples, 784);
        INDArray y = Nd4j.zeros(DataType.FLOAT, examples, 10);
        for (int i = 0; i < examples; i++) {
            y.putScalar(i, i % 10, 1f);
        }
        List<DataSet> chunks = new ArrayList<>(new DataSet(x, y).batchBy(32));
        return CLUSTER.sparkContext().parallelize(chunks, 2);
    }

    /**
     * Budget: the executor's cap less what it holds resident less the margin (old rule: cap less the heap).
     * Estimate: per device |peak - start - predicted| &le; 15% of predicted + 8 MiB, and + 32 MiB on device 0,
     * which also reads the training rows (Spark's shuffle fetch buffers, the spill) during its first step.
     * Measured on 2026-12-02, MLP 784-2048x4-10 (14.2 M parameters), 2 stages (layers 0-1 and 2-4) 1F1B, M = 4,
     * fresh executors (predicted 111.5 and 161.2 MiB), measured less predicted in three runs: +16.5..+26.6 MiB on
     * device 0, -0.1..+5.4 MiB on device 1 (bounds 48.7 and 32.2 MiB). An estimate without the Adam state (2/3 of a stage's parameter state) or,
     * on device 1, without the gradient sum (40 MiB) fails it. Only the first fit of fresh executors: a later
     * fit in the same processes reuses the native memory the earlier one freed (still resident), so its peak
     * less start reads low (measured: 16.6 MiB for a stage estimated at 40.6 MiB).
     */
    @Test
    void budgetComesFromWhatTheExecutorHoldsAndTheEstimateIsCloseToTheMeasuredPeak() {
        int width = 2048;
        ResidentProbe probe = ResidentProbe.of(CLUSTER.session().sparkContext());
        assertEquals(CAP, probe.capBytes(), "the executor's javacpp cap");
        long oldBudget = Math.max(CAP - (512L << 20), CAP / 4);
        long budget = PlanResolver.budget(probe, 1);
        System.out.printf(Locale.ROOT, "StageMemoryIT: executor resident %.1f MiB (heap max %.1f MiB); budget old "
                        + "(cap - heap) %.1f MiB, new (cap - resident - margin) %.1f MiB%n", mib(probe.residentBytes()),
                mib(probe.heapMaxBytes()), mib(oldBudget), mib(budget));
        assertEquals(CAP - probe.residentBytes() - PlanResolver.MARGIN_BYTES, budget);

        Map<String, Long> pids = CLUSTER.executorPids();
        Map<String, Long> maxRssKb = new ConcurrentHashMap<>();
        TrainingResult r = PipelineTrainer.builder(model(width)).boundaries(0, 2, 5).microBatches(4)
                .schedule(ScheduleKind.ONE_F_ONE_B).batchSize(64).epochs(1).logEvery(1)
                .progressListener(rep -> pids.forEach((id, pid) -> maxRssKb.merge(id, statusKb(pid, "VmRSS"), Math::max)))
                .build().fit(data(64 * 20));
        List<StageMemoryUse> memory = r.stageMemory();
        System.out.println("StageMemoryIT: probe resident " + probe.residentBytes() + " bytes; largest VmRSS (KiB, "
                + "file-backed pages included, which javacpp does not count) during the 20 steps " + maxRssKb + "\n"
                + StageMemoryUse.table(memory));
        assertEquals(2, memory.size(), memory.toString());
        for (StageMemoryUse u : memory) {
            System.out.printf(Locale.ROOT, "StageMemoryIT: device %d: start - probe %.1f MiB, peak - probe - predicted "
                    + "%.1f MiB%n", u.device(), mib(u.startBytes() - probe.residentBytes()),
                    mib(u.peakBytes() - probe.residentBytes() - u.predictedBytes()));
            long error = Math.abs(u.measuredBytes() - u.predictedBytes());
            long bound = (long) (0.15 * u.predictedBytes()) + ((u.device() == 0 ? 32L : 8L) << 20);
            assertTrue(error <= bound, "device " + u.device() + ": bound " + bound + " bytes, predicted "
                    + u.predictedBytes() + " bytes, measured " + u.measuredBytes() + " bytes (" + u + ")");
        }
    }

    private static long statusKb(long pid, String field) {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/" + pid + "/status"))) {
                if (line.startsWith(field + ":")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (java.io.IOException gone) {
            return -1; // the executor exited
        }
        return -1;
    }

    private static double mib(long b) {
        return b / (1024.0 * 1024.0);
    }
}
