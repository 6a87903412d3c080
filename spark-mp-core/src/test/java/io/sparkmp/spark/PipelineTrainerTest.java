package io.sparkmp.spark;

import io.sparkmp.schedule.ScheduleKind;
import io.sparkmp.store.LayerEntry;
import io.sparkmp.store.ModelStore;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.SparkException;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The driver checks and the barrier task lifecycle on an in-process local[3] Spark, with a stand-in engine. */
class PipelineTrainerTest {

    private static SparkSession spark;
    private static JavaSparkContext jsc;

    @BeforeAll
    static void start() {
        spark = SparkSession.builder().master("local[3]").appName("PipelineTrainerTest")
                .config("spark.ui.enabled", "false")
                .config("spark.executor.heartbeatInterval", "100ms")
                .config("spark.stage.maxConsecutiveAttempts", "2")
                .config("spark.mp.slotWaitTimeout", "1s")
                .config("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
                .config("spark.kryo.registrator", "io.sparkmp.spark.SparkMpKryoRegistrator")
                .getOrCreate();
        jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    static MultiLayerConfiguration mlp(int hiddenLayers) {
        NeuralNetConfiguration.ListBuilder b = new NeuralNetConfiguration.Builder().seed(1).list();
        int nIn = 2;
        for (int i = 0; i < hiddenLayers; i++) {
            b.layer(new DenseLayer.Builder().nIn(nIn).nOut(3).activation(Activation.TANH).build());
            nIn = 3;
        }
        return b.layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(nIn).nOut(2)
                .activation(Activation.SOFTMAX).build()).build();
    }

    private static JavaRDD<DataSet> fourteenExamples() {
        List<DataSet> chunks = new ArrayList<>();
        int next = 0;
        for (int size : new int[] {2, 1, 3, 1, 4, 2, 1}) {
            chunks.add(MiniBatchSpillTest.examples(next, size));
            next += size;
        }
        return jsc.parallelize(chunks, 3);
    }

    @Test
    void everyRankRunsEveryStepAndStageZeroGetsTheMiniBatchesInOrder() throws Exception {
        List<StepReport> live = new ArrayList<>();
        TrainingResult r = PipelineTrainer.builder(mlp(2)).stages(3).microBatches(2).batchSize(4).epochs(2)
                .logEvery(1).progressListener(live::add).engine(new FakeEngine(-1, -1, 150)).build()
                .fit(fourteenExamples());

        assertEquals(14, r.examplesPerEpoch());
        assertEquals(2, r.droppedPerEpoch());
        assertEquals(6, r.metrics().size()); // 3 full mini-batches x 2 epochs
        for (int s = 0; s < 6; s++) {
            StepReport m = r.metrics().get(s);
            assertEquals(s, m.step());
            assertEquals(s / 3, m.epoch());
            assertEquals(s, m.loss(), 0.0, "loss must come from the last rank");
            assertEquals(4, m.examples());
            assertEquals(0.5, m.bubbleFraction(), 1e-9, "each fake rank is busy half of its step");
        }
        assertTrue(r.isScratchStore());
        ModelStore store = ModelStore.open(r.store(), new Configuration());
        assertEquals(List.of(0, 1, 2), store.manifest().layers().stream().map(LayerEntry::layer).toList());
        assertEquals(6, store.manifest().iteration());
        assertEquals(2, store.manifest().epoch());
        assertArrayEquals(new double[] {0, 4, 8, 0, 4, 8}, store.readLayer(0)[0].toDoubleVector());
        assertEquals(2.0, store.readLayer(2)[0].getDouble(0));
        assertTrue(!live.isEmpty(), "heartbeats every 100 ms must carry live progress during 0.9 s of steps");
        for (StepReport l : live) {
            assertEquals(l.step(), l.loss(), 0.0);
        }
    }

    @Test
    void aFailingRankFailsTheFitWithItsErrorInsteadOfHanging() {
        long t0 = System.nanoTime();
        SparkException e = assertThrows(SparkException.class, () -> PipelineTrainer.builder(mlp(2)).stages(3)
                .microBatches(1).batchSize(2).engine(new FakeEngine(1, 2, 10)).build().fit(fourteenExamples()));
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertTrue(String.valueOf(e.getMessage()).contains("injected failure at rank 1 step 2"), e.getMessage());
        assertTrue(seconds < 60, "took " + seconds + " s");
    }

    @Test
    void tooFewSlotsFailsFastNamingBothNumbers() {
        long t0 = System.nanoTime();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> PipelineTrainer.builder(mlp(3))
                .stages(4).batchSize(4).engine(new FakeEngine(-1, -1, 0)).build().fit(fourteenExamples()));
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertTrue(e.getMessage().startsWith("stages (4) need 4 concurrent task slots, but the cluster has 3"),
                e.getMessage());
        assertTrue(seconds < 10, "took " + seconds + " s");
    }

    @Test
    void builderRejectsBadValuesDoubleSetsAndCrossFieldViolations() {
        MultiLayerConfiguration conf = mlp(2);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> PipelineTrainer.builder(conf).microBatches(3).batchSize(64).build());
        assertEquals("microBatches (3) must divide batchSize (64)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> PipelineTrainer.builder(conf).stages(4).build());
        assertEquals("stages x stagesPerDevice (4 x 1 = 4) must not exceed the model's layers (3)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> PipelineTrainer.builder(conf).stages(0));
        assertEquals("stages must be >= 1, but was `0`", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> PipelineTrainer.builder(conf).schedule(ScheduleKind.GPIPE).stagesPerDevice(2).build());
        assertEquals("stagesPerDevice (2) > 1 needs schedule interleaved, found gpipe", e.getMessage());
        // Interleaved with v = 1 is a valid schedule (Schedules, the spec and the planner accept it): so does the builder.
        PipelineTrainer.builder(conf).schedule(ScheduleKind.INTERLEAVED_1F1B).stagesPerDevice(1).build();
        IllegalStateException twice = assertThrows(IllegalStateException.class,
                () -> PipelineTrainer.builder(conf).epochs(2).epochs(3));
        assertEquals("epochs was already set to 2", twice.getMessage());
    }
}
