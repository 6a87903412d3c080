package io.sparkmp.examples;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.CrashReportingUtil;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.attribute.FileTime;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** TrainJob's crash-dump folder: DL4J writes its out-of-memory dump there, and the error line names it. */
class CrashDumpsTest {

    @AfterEach
    void backToTheJobsDefault() {
        CrashDumps.install();
    }

    private static MultiLayerNetwork tinyNet() {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().seed(1).list()
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(3).nOut(2)
                        .activation(Activation.SOFTMAX).build())
                .build());
        net.init();
        return net;
    }

    @Test
    void dl4jsOwnDumpLandsInTheFolderAndTheErrorLineNamesIt(@TempDir Path tmp) throws Exception {
        Path dir = tmp.resolve("dumps");
        CrashDumps dumps = CrashDumps.at(dir);
        // what DL4J itself does when one of its calls catches an OutOfMemoryError
        CrashReportingUtil.writeMemoryCrashDump(tinyNet(), new OutOfMemoryError("Cannot allocate new FloatPointer"));
        List<Path> written = dumps.written();
        assertEquals(1, written.size(), "dumps in " + dir + ": " + written);
        assertTrue(written.get(0).getFileName().toString().startsWith(CrashDumps.PREFIX), written.toString());
        assertTrue(Files.readString(written.get(0)).contains("MultiLayerNetwork"), "the dump is DL4J's memory report");
        String line = dumps.describe(new RuntimeException("stage 1 failed", new OutOfMemoryError("no memory")));
        assertEquals("; out of memory: DL4J's memory crash dump is " + written.get(0), line);
    }

    @Test
    void olderDumpsAndOtherFailuresAreNotNamed(@TempDir Path tmp) throws Exception {
        Path old = tmp.resolve(CrashDumps.PREFIX + "1_1.txt");
        Files.writeString(old, "an earlier job's dump");
        Files.setLastModifiedTime(old, FileTime.fromMillis(System.currentTimeMillis() - 60_000));
        CrashDumps dumps = CrashDumps.at(tmp);
        assertEquals(List.of(), dumps.written());
        assertEquals("", dumps.describe(new IllegalStateException("a peer closed its link")));
        String none = dumps.describe(new RuntimeException("Job aborted: java.lang.OutOfMemoryError: Java heap space"));
        assertTrue(none.startsWith("; out of memory: no DL4J crash dump was written in this JVM (" + tmp.toAbsolutePath()),
                none);
    }

    @Test
    void theJobPointsDl4jAtItsFolderNotTheWorkingDirectory(@TempDir Path tmp) throws Exception {
        CrashDumps.at(tmp);
        // a job that stops on a model that is no DL4J JSON has already installed its folder
        Path model = Files.writeString(tmp.resolve("model.json"), "not a model");
        Path train = Files.writeString(tmp.resolve("train.csv"), "1,0\n");
        java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
        int code = TrainJob.run(new String[] {"--model", model.toString(), "--train", train.toString(),
                "--label-column", "1", "--num-classes", "2"}, System.out, new java.io.PrintStream(err, true), null);
        assertEquals(TrainJob.EXIT_BAD_INPUT, code);
        assertTrue(err.toString().contains("is not a DL4J MultiLayerConfiguration JSON"), err.toString());
        assertEquals(Paths.get(System.getProperty("java.io.tmpdir"), "spark-mp-crash-dumps").toAbsolutePath(),
                CrashDumps.dl4jDirectory().toPath().toAbsolutePath());
    }
}
