package io.sparkmp.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.util.List;

import io.sparkmp.schedule.ScheduleKind;
import io.sparkmp.spark.testing.SparkStandaloneCluster;
import io.sparkmp.store.CheckpointDir;
import io.sparkmp.store.ModelStore;
import org.apache.spark.api.java.JavaRDD;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.dataset.DataSet;

/**
 * Hybrid data x pipeline parallelism across executor JVMs of a real standalone cluster (4 one-core workers):
 * R replicas of a P-stage pipeline, P x R barrier tasks, each replica's stage 0 reading its own rows, gradients
 * summed over the socket channel, train exactly what DL4J's own fit trains on the whole mini-batches.
 */
class HybridTrainingIT {

    @RegisterExtension
    static final SparkStandaloneCluster CLUSTER = PipelineTrainingIT.fourOneCoreWorkers();

    /** 64 examples, batches of 12: 5 mini-batches per epoch, the last 4 examples dropped. */
    static final List<DataSet> DATA = PipelineTrainingIT.examples(64, 11);
    static final MultiLayerNetwork REFERENCE = PipelineTrainingIT.dl4jReference(DATA, 12, 2);

    @ParameterizedTest(name = "P={0} R={1} M={2} {3}")
    @CsvSource({"2, 2, 2, 1f1b", "1, 2, 3, gpipe", "1, 4, 3, 1f1b"})
    void replicasEqualDl4jFitAcrossExecutorJvms(int stages, int replicas, int microBatches, String schedule)
            throws Exception {
        JavaRDD<DataSet> rdd = CLUSTER.sparkContext().parallelize(DATA, 3);
        java.net.URI checkpoints = Files.createTempDirectory("spark-mp-hybrid").toUri();
        TrainingResult r = PipelineTrainer.builder(PipelineTrainingIT.model()).stages(stages).replicas(replicas)
                .microBatches(microBatches).schedule(ScheduleKind.parse(schedule)).batchSize(12).epochs(2).seed(3)
                .initialParameters(PipelineTrainingIT.initialNetwork()).checkpoint(checkpoints, 4).build().fit(rdd);

        double err = PipelineTrainingIT.relativeError(r.network().params(), REFERENCE.params());
        System.out.printf("P=%d R=%d M=%d %s: relative parameter error vs DL4J fit %.3e, %.0f samples/s%n", stages,
                replicas, microBatches, schedule, err, r.samplesPerSecond());
        assertTrue(err <= 1e-9, "relative error " + err);
        assertEquals(10, r.metrics().size(), "one record per step");
        assertEquals(64, r.examplesPerEpoch());
        assertEquals(4, r.droppedPerEpoch());
        for (StepReport m : r.metrics()) {
            assertTrue(Double.isFinite(m.loss()) && m.loss() > 0, m.toString());
        }
        // The checkpoint replica 0 committed (every 4 steps and at the end) holds every layer once.
        ModelStore newest = CheckpointDir.newest(checkpoints, CLUSTER.sparkContext().hadoopConfiguration(), null);
        assertEquals(10, newest.manifest().iteration());
        assertEquals(PipelineTrainingIT.LAYERS, newest.manifest().layers().size());
    }

    /**
     * P = 2 x R = 2 with checkpoints every 3 steps; rank 3 (stage 1 of replica 1) fails after step 7, in the second
     * epoch (steps 5-9): Spark re-runs the barrier stage, all four ranks resume from the checkpoint of step 6 that
     * replica 0 wrote (each rank of either replica reading its stage's layers), and the result is DL4J's fit over
     * the two epochs, as the uninterrupted run's is.
     */
    @Test
    void aReplicaThatFailsResumesFromTheNewestCheckpointToDl4jFit(@TempDir java.nio.file.Path tmp) throws Exception {
        java.net.URI dir = tmp.resolve("checkpoints").toUri();
        TrainingResult r = PipelineTrainer.builder(PipelineTrainingIT.model()).stages(2).replicas(2).microBatches(2)
                .schedule(ScheduleKind.ONE_F_ONE_B).batchSize(12).epochs(2).seed(3)
                .initialParameters(PipelineTrainingIT.initialNetwork()).checkpoint(dir, 3).fault("fail:3:7").build()
                .fit(CLUSTER.sparkContext().parallelize(DATA, 3));

        assertEquals(2, r.plan().replicas());
        assertEquals(List.of(0L, 1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L, 9L), r.metrics().stream().map(StepReport::step).toList());
        assertEquals(List.of(0, 0, 0, 0, 0, 0, 1, 1, 1, 1), r.metrics().stream().map(StepReport::attempt).toList(),
                "the retry must start after the checkpoint of step 6");
        assertEquals(1, r.recoveredFailures().size(), r.recoveredFailures().toString());
        String failure = r.recoveredFailures().get(0);
        assertTrue(failure.startsWith("rank 3 (stage attempt 0, executor "), failure);
        assertTrue(failure.contains("injected fault (spark.mp.test.fault=fail:3:7) at rank 3 after step 7"), failure);
        assertEquals(10, r.manifest().iteration());
        assertEquals(64, r.examplesPerEpoch());
        double err = PipelineTrainingIT.relativeError(r.network().params(), REFERENCE.params());
        double stateErr = PipelineTrainingIT.relativeError(r.network().getUpdater().getStateViewArray(),
                REFERENCE.getUpdater().getStateViewArray());
        System.out.printf("P=2 R=2 failed at step 7, resumed from step 6: parameters %.3e, Adam state %.3e vs DL4J "
                + "fit%n", err, stateErr);
        assertTrue(err <= 1e-9 && stateErr <= 1e-9, err + " / " + stateErr);
        try (var steps = Files.list(tmp.resolve("checkpoints"))) {
            assertEquals(List.of("step-000000009", "step-000000010"),
                    steps.map(q -> q.getFileName().toString()).sorted().toList(), "keep = 2 newest");
        }
    }

    /** replicas auto on four slots: the plan's P x R fits them and says why its R. */
    @Test
    void autoReplicasPlanWithinTheSlotsAndSayWhy() {
        io.sparkmp.plan.PipelinePlan plan = PipelineTrainer.builder(PipelineTrainingIT.model()).stages(2)
                .microBatches(2).batchSize(12).build().plan(CLUSTER.sparkContext().sc());
        System.out.println("auto on 4 slots, P = 2: " + plan.replicasReason());
        assertTrue(plan.replicas() == 1 || plan.replicas() == 2, plan.explain());
        assertTrue(plan.replicasReason().startsWith("R = " + plan.replicas() + " chosen by predicted step ("),
                plan.replicasReason());
        assertTrue(plan.replicasReason().contains("R = " + (3 - plan.replicas()) + " "), plan.replicasReason());
    }

    @Test
    void moreTasksThanSlotsFailsNamingStagesAndReplicas() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> PipelineTrainer
                .builder(PipelineTrainingIT.model()).stages(3).replicas(2).microBatches(1).batchSize(12).build()
                .fit(CLUSTER.sparkContext().parallelize(DATA, 2)));
        assertTrue(e.getMessage().startsWith("stages x replicas (3 x 2 = 6) need 6 concurrent task slots, but the "
                + "cluster has 4"), e.getMessage());
    }

    @Test
    void replicasTimesMicroBatchesNotDividingTheBatchIsRejectedBeforeAnyJob() {
        int jobsBefore = CLUSTER.sparkContext().statusTracker().getJobIdsForGroup(null).length;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PipelineTrainer
                .builder(PipelineTrainingIT.model()).stages(2).replicas(2).microBatches(4).batchSize(12).build());
        assertEquals("replicas x microBatches (2 x 4 = 8) must divide batchSize (12)", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> PipelineTrainer.builder(PipelineTrainingIT.model())
                .replicas(0));
        assertEquals(jobsBefore, CLUSTER.sparkContext().statusTracker().getJobIdsForGroup(null).length);
    }
}
