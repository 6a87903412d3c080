package io.sparkmp.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import io.sparkmp.runtime.NonFinitePolicy;
import io.sparkmp.schedule.ScheduleKind;
import io.sparkmp.store.CheckpointDir;
import io.sparkmp.store.ModelStore;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * Checkpoints, automatic recovery, resume and the trained store on a real HDFS (Hadoop's {@link MiniDFSCluster},
 * one name node and one data node in this JVM), trained by the real engine on an in-process local[2] Spark.
 * Also the non-finite skip policy end to end through the trainer.
 */
class HdfsCheckpointTest {

    private static MiniDFSCluster dfs;
    private static URI root;
    private static SparkSession spark;
    private static JavaSparkContext jsc;
    private static MultiLayerNetwork faultFree;

    @TempDir
    static Path tmp;

    @BeforeAll
    static void start() throws IOException {
        Configuration conf = new Configuration();
        conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, tmp.resolve("dfs").toString());
        conf.setInt("dfs.replication", 1);
        dfs = new MiniDFSCluster.Builder(conf).numDataNodes(1).build();
        dfs.waitActive();
        root = dfs.getURI();
        spark = SparkSession.builder().master("local[2]").appName("HdfsCheckpointTest")
                .config("spark.ui.enabled", "false")
                .config("spark.stage.maxConsecutiveAttempts", "3")
                .config("spark.mp.slotWaitTimeout", "5s")
                .config("spark.mp.transport.ioTimeout", "60s")
                .config("spark.hadoop.dfs.replication", "1")
                .config("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
                .config("spark.kryo.registrator", "io.sparkmp.spark.SparkMpKryoRegistrator")
                .getOrCreate();
        jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    }

    @AfterAll
    static void stop() {
        if (spark != null) {
            spark.stop();
        }
        if (dfs != null) {
            dfs.shutdown();
        }
    }

    static MultiLayerConfiguration model() {
        return new NeuralNetConfiguration.Builder().seed(3).dataType(DataType.DOUBLE).updater(new Adam(0.01)).list()
                .layer(new DenseLayer.Builder().nIn(8).nOut(12).activation(Activation.TANH).build())
                .layer(new DenseLayer.Builder().nIn(12).nOut(6).activation(Activation.TANH).build())
                .layer(new DenseLayer.Builder().nIn(6).nOut(6).activation(Activation.TANH).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(6).nOut(2)
                        .activation(Activation.SOFTMAX).build())
                .build();
    }

    /** 48 rows (6 mini-batches of 8), 2 classes; {@code nanRow} >= 0 puts a NaN into that row's features. */
    static JavaRDD<DataSet> data(int nanRow) {
        Nd4j.getRandom().setSeed(7);
        INDArray x = Nd4j.rand(DataType.DOUBLE, 48, 8);
        INDArray y = Nd4j.zeros(DataType.DOUBLE, 48, 2);
        for (int i = 0; i < 48; i++) {
            y.putScalar(i, i % 2, 1.0);
        }
        if (nanRow >= 0) {
            x.putScalar(nanRow, 3, Double.NaN);
        }
        List<DataSet> chunks = new ArrayList<>();
        for (DataSet d : new DataSet(x, y).batchBy(8)) {
            chunks.add(d);
        }
        return jsc.parallelize(chunks, 2);
    }

    static PipelineTrainer.Builder job() {
        return PipelineTrainer.builder(model()).stages(2).boundaries(0, 2, 4).schedule(ScheduleKind.ONE_F_ONE_B)
                .microBatches(2).batchSize(8).epochs(2).seed(3).shuffle(false).logEvery(0).profile(ProfileMode.ANALYTIC);
    }

    static URI hdfs(String path) {
        return root.resolve(path);
    }

    static synchronized MultiLayerNetwork faultFree() {
        if (faultFree == null) {
            faultFree = job().output(hdfs("/free")).build().fit(data(-1)).network();
        }
        return faultFree;
    }

    static double relativeError(INDArray a, INDArray b) {
        return a.sub(b).amaxNumber().doubleValue() / Math.max(b.amaxNumber().doubleValue(), 1e-300);
    }

    private static List<String> names(URI dir) throws IOException {
        FileSystem fs = FileSystem.get(dir, new Configuration());
        return Arrays.stream(fs.listStatus(new org.apache.hadoop.fs.Path(dir))).map(FileStatus::getPath)
                .map(org.apache.hadoop.fs.Path::getName).sorted().toList();
    }

    @Test
    void aFailedStageRecoversFromItsHdfsCheckpointAndTheResultHoldsEveryStepOnce() throws Exception {
        URI ck = hdfs("/recovery/checkpoints");
        URI out = hdfs("/recovery/model");
        TrainingResult r = job().output(out).checkpoint(ck, 4).fault("fail:1:6").build().fit(data(-1));

        assertEquals("hdfs", r.store().getScheme());
        assertEquals(1, r.recoveredFailures().size(), r.recoveredFailures().toString());
        // Every step once: 0-3 as attempt 0 ran them (kept with the checkpoint of step 4), 4-11 from the retry.
        assertEquals(12, r.metrics().size());
        for (StepReport s : r.metrics()) {
            assertEquals(s.step() < 4 ? 0 : 1, s.attempt(), "attempt of step " + s.step());
            assertTrue(Double.isFinite(s.loss()), "loss of step " + s.step());
        }
        assertEquals(List.of(0L, 1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L, 9L, 10L, 11L),
                r.metrics().stream().map(StepReport::step).toList());
        double err = relativeError(r.network().params(), faultFree().params());
        double stateErr = relativeError(r.network().getUpdater().getStateViewArray(),
                faultFree().getUpdater().getStateViewArray());
        assertTrue(err <= 1e-12 && stateErr <= 1e-12, err + " / " + stateErr);
        assertEquals(List.of("step-000000008", "step-000000012"), names(ck), "keep = 2 newest, on HDFS");
        ModelStore stored = ModelStore.open(out, new Configuration());
        assertEquals(12, stored.manifest().iteration());
        assertEquals(0.0, relativeError(stored.toNetwork().params(), r.network().params()));
    }

    @Test
    void aNewJobResumesFromAnHdfsCheckpointToTheUninterruptedResult() throws Exception {
        URI ck = hdfs("/resume/checkpoints");
        job().output(hdfs("/resume/first")).checkpoint(ck, 4).checkpointsKept(3).build().fit(data(-1));
        URI step8 = CheckpointDir.stepDir(ck, 8);
        assertEquals(8, ModelStore.open(step8, new Configuration()).manifest().iteration());
        TrainingResult resumed = job().output(hdfs("/resume/second")).resumeFrom(step8).build().fit(data(-1));
        assertEquals(List.of(8L, 9L, 10L, 11L), resumed.metrics().stream().map(StepReport::step).toList());
        double err = relativeError(resumed.network().params(), faultFree().params());
        assertTrue(err <= 1e-12, "relative error " + err);
    }

    @Test
    void theSkipPolicyLeavesTheNonFiniteStepOutAndCountsIt(@TempDir Path local) throws Exception {
        // Row 21 is in mini-batch 2 of each epoch: steps 2 and 8.
        TrainingResult r = job().nonFinite(NonFinitePolicy.SKIP).output(local.resolve("skip").toUri())
                .checkpoint(local.resolve("ck").toUri(), 5).checkpointsKept(3).build().fit(data(21));
        assertEquals(List.of(2L, 8L), r.skippedSteps());
        assertEquals(12, r.metrics().size());
        assertEquals(12, r.manifest().iteration());
        assertEquals(2, r.manifest().skippedSteps());
        assertEquals(10, r.network().getIterationCount(), "DL4J's iteration count: the updates applied");
        assertEquals(1, ModelStore.open(CheckpointDir.stepDir(local.resolve("ck").toUri(), 5), new Configuration())
                .manifest().skippedSteps(), "the checkpoint after step 5 counts the skipped step 2");
        assertTrue(r.metrics().get(2).toString().contains("SKIPPED"), r.metrics().get(2).toString());
        assertTrue(Double.isFinite(r.network().params().sumNumber().doubleValue()), "NaN reached the parameters");
    }
}
