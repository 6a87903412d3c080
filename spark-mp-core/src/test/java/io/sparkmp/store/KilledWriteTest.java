package io.sparkmp.store;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.apache.hadoop.fs.FileSystem;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** A writer process killed (SIGKILL) halfway through a store leaves nothing that opens as a store. */
class KilledWriteTest {

    /** Writes a small layer, says so, then a 128 MiB one, then waits before committing: killed meanwhile. */
    public static void main(String[] args) throws Exception {
        URI uri = URI.create(args[0]);
        FileSystem fs = FileSystem.get(uri, StoreFixtures.hadoop());
        org.apache.hadoop.fs.Path dir = new org.apache.hadoop.fs.Path(uri);
        fs.mkdirs(dir);
        INDArray small = Nd4j.rand(DataType.FLOAT, 1000);
        LayerFiles.write(fs, dir, LayerFiles.fileName(0, "killed"), 0, List.of(small), List.of());
        System.out.println("layer 0 written");
        System.out.flush();
        INDArray big = Nd4j.zeros(DataType.FLOAT, 32L << 20);
        LayerFiles.write(fs, dir, LayerFiles.fileName(1, "killed"), 1, List.of(big), List.of());
        System.out.println("layer 1 written");
        System.out.flush();
        Thread.sleep(600_000); // the commit never comes
    }

    @Test
    void aStoreWhoseWriterWasKilledDoesNotOpenAndALaterWriteReplacesIt(@TempDir Path tmp) throws Exception {
        Path dir = tmp.resolve("store");
        String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(javaBin, "-cp", System.getProperty("java.class.path"),
                KilledWriteTest.class.getName(), dir.toUri().toString()).redirectErrorStream(true).start();
        try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            boolean started = false;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while ((line = out.readLine()) != null && System.nanoTime() < deadline) {
                if (line.equals("layer 0 written")) {
                    started = true;
                    break;
                }
            }
            assertTrue(started, "the writer never wrote its first layer");
            p.destroyForcibly(); // SIGKILL: no shutdown hooks, no cleanup
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the killed writer did not end");
        } finally {
            p.destroyForcibly();
        }

        assertTrue(Files.exists(dir.resolve("layer-00000-killed.bin")), "the first layer file was written");
        assertFalse(Files.exists(dir.resolve(ModelStore.MANIFEST)));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ModelStore.open(dir.toUri(), StoreFixtures.hadoop()));
        assertTrue(e.getMessage().contains("is not a complete spark-mp store: no manifest.json"), e.getMessage());
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) {
                String name = f.getFileName().toString();
                assertTrue(name.equals("layer-00000-killed.bin") || name.equals("layer-00001-killed.bin")
                        || name.startsWith("."), "unexpected file " + name);
            }
        }

        // A new writer replaces the leftovers: its commit deletes the killed writer's files.
        ModelStore.prepareOutput(dir.toUri(), StoreFixtures.hadoop(), true);
        StoreFixtures.store(StoreFixtures.trained(DataType.FLOAT, new org.nd4j.linalg.learning.config.Adam(0.01), 1),
                dir.toUri(), "next");
        ModelStore.open(dir.toUri(), StoreFixtures.hadoop()).toNetwork();
        try (Stream<Path> files = Files.list(dir)) {
            assertTrue(files.noneMatch(f -> f.getFileName().toString().contains("killed")), "leftovers of the killed writer");
        }
    }
}
