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
     * Estimate: per device |peak - start - predicted| &le; 25% of predicted + 8 MiB. Measured on 2026-12-02 on
     * this 2-stage 1F1B split of M1 with M = 4 (stage 0: layers 0..2, predicted 56.0 MiB; stage 1: 20.5 MiB):
     * +10.5 MiB on stage 0 (which also reads the data), -3.3 MiB on stage 1 (bounds 22 and 13 MiB); an estimate
     * without the Adam state (22 MiB on stage 0) or without the gradient sum (11 MiB) fails it.
     */
    @Test
    void budgetComesFromWhatTheExecutorHoldsAndTheEstimateIsCloseToTheMeasuredPeak() {
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
        TrainingResult r = PipelineTrainer.builder(model(1024)).stages(2).microBatches(4)
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
            assertTrue(error <= u.predictedBytes() / 4 + (8L << 20), "device " + u.device() + ": predicted "
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
