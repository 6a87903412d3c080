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
    @CsvSource({"2, 2, 2, 1f1b", "1, 2, 3, gpipe"})
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
