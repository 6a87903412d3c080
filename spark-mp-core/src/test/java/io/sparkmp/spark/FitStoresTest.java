package io.sparkmp.spark;

import io.sparkmp.store.CheckpointDir;
import io.sparkmp.store.ModelStore;
import org.apache.hadoop.conf.Configuration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The driver-side checks of a fit's stores: every refusal names the value, and nothing is left behind. */
class FitStoresTest {
    private static final Configuration HADOOP = new Configuration();
    private static final String JOB = "0123456789ab-cdef-0000-0000-000000000000";

    @TempDir
    Path tmp;

    private static FitStores.Settings settings(String output, String initFrom, String resumeFrom, String checkpointDir,
                                               String fault, int epochs) {
        return new FitStores.Settings(output, false, "", initFrom, resumeFrom, checkpointDir, 3, 2, fault, epochs);
    }

    private static MultiLayerNetwork trained(MultiLayerConfiguration conf, int steps) {
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        conf.setIterationCount(steps);
        conf.setEpochCount(steps / 5);
        return net;
    }

    private IllegalArgumentException refused(FitStores.Settings s) {
        return assertThrows(IllegalArgumentException.class,
                () -> FitStores.prepare(HADOOP, PipelineTrainerTest.mlp(2), JOB, s, null, 1));
    }

    @Test
    void badStartsAndCheckpointPlacesAreRefusedNamingTheValueAndLeaveNoOutput() throws Exception {
        String out = tmp.resolve("out").toUri().toString();
        Path file = Files.writeString(tmp.resolve("a-file"), "x");
        IllegalArgumentException e = refused(settings(out, "", "", file.resolve("ckpt").toUri().toString(), "", 1));
        assertTrue(e.getMessage().startsWith("checkpoint.dir " + file.resolve("ckpt").toUri().toString().replaceAll("/$", "")),
                e.getMessage());
        assertTrue(e.getMessage().contains("is not writable"), e.getMessage());
        assertFalse(Files.exists(tmp.resolve("out")), "a refused fit must not leave its output folder");

        e = refused(settings(out, "a", "b", "", "", 1));
        assertEquals("give one of initFrom, resumeFrom and initialParameters, found initFrom a resumeFrom b ", e.getMessage());

        e = refused(settings(out, "", "", "", "kill:1:2", 1));
        assertEquals("spark.mp.test.fault must be fail:<rank>:<step>, checkpoint:<rank>:<step> or stall:<rank>:<step>, "
                + "found `kill:1:2`",
                e.getMessage());

        URI empty = tmp.resolve("no-checkpoints").toUri();
        Files.createDirectories(tmp.resolve("no-checkpoints/step-000000003")); // a checkpoint that never committed
        e = refused(settings(out, "", empty.toString(), "", "", 1));
        assertTrue(e.getMessage().endsWith("holds no complete checkpoint"), e.getMessage());
        assertFalse(Files.exists(tmp.resolve("out")));
    }

    @Test
    void resumeFromTakesTheNewestCompleteCheckpointChecksTheModelAndTheEpochs() throws Exception {
        MultiLayerConfiguration conf = PipelineTrainerTest.mlp(2);
        URI dir = tmp.resolve("ckpt").toUri();
        ModelStore.write(CheckpointDir.stepDir(dir, 5), HADOOP, trained(conf.clone(), 5), 1, "a");
        ModelStore.write(CheckpointDir.stepDir(dir, 10), HADOOP, trained(conf.clone(), 10), 1, "b");
        Files.createDirectories(tmp.resolve("ckpt/step-000000015")); // newer, incomplete: skipped

        try (FitStores s = FitStores.prepare(HADOOP, conf, JOB, settings(tmp.resolve("o1").toUri().toString(), "",
                dir.toString(), "", "", 3), null, 1)) {
            assertEquals(new JobStore.Position(10, 2, 0), s.start());
            assertEquals(CheckpointDir.stepDir(dir, 10).toString().replaceAll("/$", ""),
                    s.jobStore().initFromOrEmpty().replaceAll("/$", ""));
        }
        IllegalArgumentException e = refused(settings(tmp.resolve("o2").toUri().toString(), "", dir.toString(), "", "", 2));
        assertEquals("resumeFrom " + dir + " has already trained 2 epochs (10 steps); epochs (2) is the total when resuming",
                e.getMessage());
        IllegalArgumentException other = assertThrows(IllegalArgumentException.class, () -> FitStores.prepare(HADOOP,
                PipelineTrainerTest.mlp(3), JOB, settings(tmp.resolve("o3").toUri().toString(), "", dir.toString(), "", "",
                        3), null, 1));
        assertTrue(other.getMessage().contains("holds another model: the stored model has 3 layers, the given one 4"),
                other.getMessage());
    }
}
