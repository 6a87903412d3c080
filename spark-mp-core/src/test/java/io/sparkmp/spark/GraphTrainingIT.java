package io.sparkmp.spark;

import io.sparkmp.model.GraphModels;
import io.sparkmp.schedule.ScheduleKind;
import io.sparkmp.spark.testing.SparkStandaloneCluster;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.dataset.api.MultiDataSet;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * ComputationGraph pipelines across executor JVMs of a real Spark standalone cluster (3 one-core workers): the
 * residual CNN whose skip connection crosses a cut, and the two-input two-output graph whose second input and both
 * outputs live on later stages (so those ranks read their own copy of the rows), P = 2 and 3, GPipe and 1F1B, 3 steps,
 * against DL4J's {@code ComputationGraph.fit} on the same mini-batches: parameters, updater state and losses within
 * 1e-9 relative (double).
 */
class GraphTrainingIT {

    @RegisterExtension
    static final SparkStandaloneCluster CLUSTER = SparkStandaloneCluster.withWorkers(3)
            .conf("spark.mp.slotWaitTimeout", "5s")
            .conf("spark.mp.transport.connectTimeout", "10s")
            .conf("spark.mp.transport.ioTimeout", "30s")
            .conf("spark.scheduler.barrier.maxConcurrentTasksCheck.interval", "1s")
            .conf("spark.stage.maxConsecutiveAttempts", "1");

    @ParameterizedTest(name = "{0} P={1} M={2} {3}")
    @CsvSource({"residual, 2, 2, 1f1b", "residual, 3, 4, gpipe", "twoInTwoOut, 2, 2, gpipe", "twoInTwoOut, 3, 2, 1f1b",
        "transfer, 3, 2, gpipe"})
    void equalsComputationGraphFitAcrossExecutorJvms(String fixture, int stages, int m, String schedule) {
        ComputationGraphConfiguration conf = GraphModels.of(fixture);
        List<MultiDataSet> batches = GraphModels.data(fixture, GraphTrainingTest.STEPS, GraphTrainingTest.BATCH, 29);
        GraphModels.Reference ref = GraphModels.referenceFit(conf, batches, 1, 7);
        TrainingResult r = PipelineTrainer.builder(conf).stages(stages).microBatches(m)
                .schedule(ScheduleKind.parse(schedule)).batchSize(GraphTrainingTest.BATCH).seed(7).build()
                .fitMultiDataSet(CLUSTER.sparkContext().parallelize(batches, 2));
        assertEquals(stages, r.plan().devices());
        GraphTrainingTest.assertClose(ref, r.graph(), r);
    }
}
