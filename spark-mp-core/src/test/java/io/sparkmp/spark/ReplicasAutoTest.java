package io.sparkmp.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import io.sparkmp.plan.PipelinePlan;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * {@code spark.mp.replicas} left at its default (auto) in local mode, where the two slots are more than a model
 * that fits one device needs: the planner gives the second slot to a replica when that is predicted faster, and the
 * training still equals DL4J's fit; a BatchNormalization model and a batch no R &gt; 1 divides stay at R = 1, and
 * the plan says why. Analytic layer times at 1 MFLOP/s make the arithmetic, which replicas split, dominate the
 * per-call cost, which they do not, so the choice does not depend on this machine's speed.
 */
class ReplicasAutoTest {
    private static SparkSession spark;
    private static JavaSparkContext jsc;

    @BeforeAll
    static void start() {
        spark = SparkSession.builder().master("local[2]").appName("ReplicasAutoTest")
                .config("spark.ui.enabled", "false")
                .config("spark.stage.maxConsecutiveAttempts", "1")
                .config("spark.mp.slotWaitTimeout", "2s")
                .config("spark.mp.transport.ioTimeout", "60s")
                .config("spark.mp.plan.profile", "analytic")
                .config("spark.mp.plan.analyticFlops", "1e6")
                .config("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
                .config("spark.kryo.registrator", SparkMpKryoRegistrator.class.getName())
                .getOrCreate();
        jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    @Test
    void autoGivesTheSpareSlotToAReplicaAndStillTrainsAsDl4jFit() {
        List<DataSet> data = PipelineTrainingIT.examples(48, 11);
        TrainingResult r = PipelineTrainer.builder(PipelineTrainingIT.model()).batchSize(12).epochs(2).seed(3)
                .initialParameters(PipelineTrainingIT.initialNetwork()).logEvery(0).build()
                .fit(jsc.parallelize(data, 2));
        PipelinePlan plan = r.plan();
        assertEquals(1, plan.devices(), plan.explain());
        assertEquals(2, plan.replicas(), plan.explain());
        assertTrue(plan.replicasReason().startsWith("R = 2 chosen by predicted step ("), plan.replicasReason());
        // R = 1 is partitioned or pruned by its bound; either way the reason names it with a time
        assertTrue(plan.replicasReason().matches("R = 2 chosen by predicted step \\([0-9.]+ ms\\) over R = 1 "
                + "(best [0-9.]+ ms \\(P = [12], M = [0-9]+\\)|at least [0-9.]+ ms \\(bound\\))"),
                plan.replicasReason());
        assertTrue(plan.explain().contains("replicas: R = 2 chosen by predicted step"), plan.explain());

        double err = PipelineTrainingIT.relativeError(r.network().params(),
                PipelineTrainingIT.dl4jReference(data, 12, 2).params());
        System.out.printf("auto chose P=%d x R=%d (%s): relative parameter error vs DL4J fit %.3e%n", plan.devices(),
                plan.replicas(), plan.replicasReason(), err);
        assertTrue(err <= 1e-9, "relative error " + err);
        assertEquals(8, r.metrics().size());
        assertEquals(48, r.examplesPerEpoch());
    }

    /**
     * A store written by P = 1 x R = 2 (replica 0 writes the layers) continues under another R: one epoch under auto
     * (R = 2), one more with replicas 1 on two stages, equals DL4J's fit over two epochs, Adam state included.
     */
    @Test
    void aStoreWrittenWithReplicasContinuesUnderAnotherR(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp) {
        List<DataSet> data = PipelineTrainingIT.examples(48, 11);
        java.net.URI first = tmp.resolve("epoch1").toUri();
        TrainingResult one = PipelineTrainer.builder(PipelineTrainingIT.model()).batchSize(12).epochs(1).seed(3)
                .initialParameters(PipelineTrainingIT.initialNetwork()).output(first).logEvery(0).build()
                .fit(jsc.parallelize(data, 2));
        assertEquals(2, one.plan().replicas(), one.plan().explain());
        TrainingResult two = PipelineTrainer.builder(PipelineTrainingIT.model()).stages(2).replicas(1).microBatches(2)
                .batchSize(12).epochs(1).seed(3).initFrom(first).logEvery(0).build().fit(jsc.parallelize(data, 2));
        assertEquals(4, two.metrics().get(0).step(), "the second job continues the step count");
        assertEquals(8, two.manifest().iteration());
        org.deeplearning4j.nn.multilayer.MultiLayerNetwork ref = PipelineTrainingIT.dl4jReference(data, 12, 2);
        double err = PipelineTrainingIT.relativeError(two.network().params(), ref.params());
        double stateErr = PipelineTrainingIT.relativeError(two.network().getUpdater().getStateViewArray(),
                ref.getUpdater().getStateViewArray());
        System.out.printf("1 epoch at R=2, 1 more at P=2 R=1 from the store vs DL4J fit: parameters %.3e, Adam state "
                + "%.3e%n", err, stateErr);
        assertTrue(err <= 1e-9 && stateErr <= 1e-9, err + " / " + stateErr);
    }

    @Test
    void replicasOneKeepsAPurePipeline() {
        PipelinePlan plan = PipelineTrainer.builder(PipelineTrainingIT.model()).batchSize(12).replicas(1).build()
                .plan(spark.sparkContext());
        assertEquals(1, plan.replicas());
        assertEquals("R = 1 given", plan.replicasReason());
    }

    @Test
    void batchNormalizationKeepsOneReplicaAndSaysWhy() {
        MultiLayerConfiguration bn = new NeuralNetConfiguration.Builder().seed(7).dataType(DataType.DOUBLE)
                .updater(new Adam(0.01)).list()
                .layer(new DenseLayer.Builder().nIn(4).nOut(6).activation(Activation.TANH).build())
                .layer(new BatchNormalization.Builder().nOut(6).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(6).nOut(3)
                        .activation(Activation.SOFTMAX).build())
                .build();
        PipelinePlan plan = PipelineTrainer.builder(bn).batchSize(12).stages(1).build().plan(spark.sparkContext());
        assertEquals(1, plan.replicas());
        assertEquals("R = 1: layer 1 (BatchNormalization) normalises by its examples' statistics, which would be each "
                + "replica's share instead of the mini-batch's (set spark.mp.replicas to a number to be refused with "
                + "the reason instead)", plan.replicasReason());
        assertTrue(plan.explain().contains("replicas: R = 1: layer 1 (BatchNormalization)"), plan.explain());
        // A number is taken as given: refused with the reason, on the driver.
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PipelineTrainer.builder(bn)
                .batchSize(12).stages(1).replicas(2).build().plan(spark.sparkContext()));
        assertTrue(e.getMessage().startsWith("replicas (2) > 1 cannot train layer 1 (BatchNormalization)"),
                e.getMessage());
    }

    @Test
    void aBatchNoReplicaCountDividesKeepsOneReplicaAndSaysWhy() {
        PipelinePlan plan = PipelineTrainer.builder(PipelineTrainingIT.model()).batchSize(7).stages(1).build()
                .plan(spark.sparkContext());
        assertEquals(1, plan.replicas());
        assertEquals("R = 1: no R in 2..2 (executors 2 / P 1) divides batch 7", plan.replicasReason());
    }

    @Test
    void autoIsTheDefaultAndTheWordIsAccepted() {
        assertEquals(null, SparkMpConf.REPLICAS.defaultValue());
        assertEquals("auto", SparkMpConf.REPLICAS.defaultText());
        assertEquals(null, SparkMpConf.REPLICAS.parse("auto"));
        assertEquals(null, SparkMpConf.of(java.util.Map.of("spark.mp.replicas", "AUTO")).get(SparkMpConf.REPLICAS));
        assertEquals(3, SparkMpConf.of(java.util.Map.of("spark.mp.replicas", "3")).get(SparkMpConf.REPLICAS));
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
                () -> SparkMpConf.of(java.util.Map.of("spark.mp.replicas", "0")));
        assertEquals("`spark.mp.replicas` must be >= 1, but was `0`", bad.getMessage());
        IllegalArgumentException word = assertThrows(IllegalArgumentException.class,
                () -> SparkMpConf.of(java.util.Map.of("spark.mp.replicas", "many")));
        assertEquals("`spark.mp.replicas` should be int or auto, but was `many`", word.getMessage());
        // in code: replicasAuto() once, and not after a number
        IllegalStateException twice = assertThrows(IllegalStateException.class,
                () -> PipelineTrainer.builder(PipelineTrainingIT.model()).replicas(2).replicasAuto());
        assertEquals("replicas was already set to 2", twice.getMessage());
        IllegalStateException after = assertThrows(IllegalStateException.class,
                () -> PipelineTrainer.builder(PipelineTrainingIT.model()).replicasAuto().replicas(2));
        assertEquals("replicas was already set to auto", after.getMessage());
    }
}
