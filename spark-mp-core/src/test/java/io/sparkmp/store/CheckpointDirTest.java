package io.sparkmp.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.learning.config.Adam;

/** Pruning judges completeness as readers do, including the object-store commit marker. */
class CheckpointDirTest {

    @TempDir
    java.nio.file.Path tmp;

    private static Configuration s3a() {
        return FakeObjectStore.configuration();
    }

    private static void checkpoint(MultiLayerNetwork net, URI dir, long step) throws IOException {
        URI uri = CheckpointDir.stepDir(dir, step);
        FileSystem fs = FileSystem.get(uri, s3a());
        List<LayerEntry> entries = LayerFiles.writeAll(fs, new Path(uri), "j",
                io.sparkmp.model.LayerParameters.parameterSegments(net, 0),
                io.sparkmp.model.LayerParameters.stateSegments(net, 0));
        ModelStore.commit(uri, s3a(), StoreFixtures.manifest(net, entries, "j"));
    }

    private Set<String> steps() throws IOException {
        try (Stream<java.nio.file.Path> s = Files.list(tmp.resolve("ck"))) {
            return s.map(p -> p.getFileName().toString()).collect(Collectors.toSet());
        }
    }

    @Test
    void pruneOnAnObjectStoreDoesNotCountAManifestWithoutItsCommitMarker() throws IOException {
        URI dir = URI.create("s3a://bucket" + tmp.toAbsolutePath() + "/ck");
        MultiLayerNetwork net = StoreFixtures.trained(DataType.FLOAT, new Adam(0.01), 1);
        checkpoint(net, dir, 1);
        checkpoint(net, dir, 3);
        checkpoint(net, dir, 6);
        // Writers that died between the manifest and the marker: an old one and the newest.
        Files.delete(tmp.resolve("ck/step-000000001/_COMMITTED"));
        Files.delete(tmp.resolve("ck/step-000000006/_COMMITTED"));
        assertTrue(Files.exists(tmp.resolve("ck/step-000000006/manifest.json")));

        CheckpointDir.prune(dir, s3a(), 1);

        // step 3 is the newest complete one and is kept (before, step 6's manifest counted as complete, was kept
        // instead and step 3 deleted: no readable checkpoint left); step 6 is newer, may be in progress, and stays;
        // step 1 is incomplete and older than the kept one: deleted.
        assertEquals(Set.of("step-000000003", "step-000000006"), steps());
        assertEquals(CheckpointDir.stepDir(dir, 3), CheckpointDir.newest(dir, s3a(), "j").uri());

        checkpoint(net, dir, 9);
        CheckpointDir.prune(dir, s3a(), 1);
        assertEquals(Set.of("step-000000009"), steps(), "a complete newer checkpoint: the older complete and the "
                + "incomplete ones go");
    }
}
