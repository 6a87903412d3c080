package io.sparkmp.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.learning.config.Adam;

class StoreExportTest {

    @TempDir
    Path tmp;

    private final ByteArrayOutputStream err = new ByteArrayOutputStream();

    private int run(String... args) {
        return StoreExport.run(args, new PrintStream(new ByteArrayOutputStream()),
                new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    @Test
    void exportedZipRestoresTheSameNetwork() throws IOException {
        MultiLayerNetwork net = StoreFixtures.trained(DataType.DOUBLE, new Adam(0.01), 2);
        StoreFixtures.store(net, tmp.resolve("store").toUri(), "job1");
        Path zip = tmp.resolve("model.zip");
        assertEquals(0, run(tmp.resolve("store").toUri().toString(), zip.toString()), err.toString());

        MultiLayerNetwork back = ModelSerializer.restoreMultiLayerNetwork(zip.toFile(), true);
        StoreFixtures.assertSameValues(net.params(), back.params(), "parameters");
        StoreFixtures.assertSameValues(net.getUpdater().getStateViewArray(), back.getUpdater().getStateViewArray(),
                "updater state");
        assertEquals(2, back.getIterationCount());
        try (var files = Files.list(tmp)) {
            assertEquals(0, files.filter(p -> p.getFileName().toString().endsWith(".tmp")).count(), "no temp file left");
        }
    }

    @Test
    void badInputExitsWithTwoAndSaysWhy() throws IOException {
        assertEquals(2, run("only-one"));
        assertTrue(err.toString().contains("usage: StoreExport <store URI> <out.zip>"), err.toString());

        err.reset();
        Files.createDirectories(tmp.resolve("empty"));
        assertEquals(2, run(tmp.resolve("empty").toString(), tmp.resolve("m.zip").toString()));
        assertTrue(err.toString().contains("is not a complete spark-mp store: no manifest.json"), err.toString());
        assertFalse(Files.exists(tmp.resolve("m.zip")));

        err.reset();
        assertEquals(2, run(tmp.resolve("empty").toString(), tmp.resolve("no/such/m.zip").toString()));
        assertTrue(err.toString().contains("output folder " + tmp.resolve("no/such") + " does not exist"), err.toString());
    }
}
