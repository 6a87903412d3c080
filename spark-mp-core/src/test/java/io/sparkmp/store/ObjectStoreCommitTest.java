package io.sparkmp.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
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
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.Adam;

import io.sparkmp.model.LayerParameters;

class ObjectStoreCommitTest {

    @TempDir
    java.nio.file.Path tmp;

    private static Configuration s3a() {
        return FakeObjectStore.configuration();
    }

    @Test
    void objectStoresCommitWithAMarkerThatReadersRequire() throws IOException {
        URI uri = URI.create("s3a://bucket" + tmp.toAbsolutePath() + "/store");
        java.nio.file.Path local = tmp.resolve("store");
        ModelStore.prepareOutput(uri, s3a(), false);
        MultiLayerNetwork net = StoreFixtures.trained(DataType.FLOAT, new Adam(0.01), 2);
        FileSystem fs = FileSystem.get(uri, s3a());
        assertEquals("s3a", fs.getScheme());
        Map<Integer, List<INDArray>> params = LayerParameters.parameterSegments(net, 0);
        Map<Integer, List<INDArray>> state = LayerParameters.stateSegments(net, 0);
        List<LayerEntry> entries = new ArrayList<>();
        for (int layer : params.keySet()) {
            entries.add(LayerFiles.write(fs, new Path(uri), StoreFixtures.fileName(layer, "j"), layer, params.get(layer),
                    state.get(layer)));
        }
        StoreManifest m = StoreFixtures.manifest(net, entries, "j");
        ModelStore.commit(uri, s3a(), m);

        try (Stream<java.nio.file.Path> files = Files.list(local)) {
            assertEquals(Set.of("manifest.json", "_COMMITTED", "layer-00000-j.bin", "layer-00001-j.bin"),
                    files.map(p -> p.getFileName().toString()).collect(Collectors.toSet()),
                    "layer files and manifest written in place, no temporary names");
        }
        String manifestSum = ModelStore.checksum(Files.readAllBytes(local.resolve("manifest.json")));
        assertEquals(manifestSum, Files.readString(local.resolve("_COMMITTED"), StandardCharsets.US_ASCII));
        ModelStore s = ModelStore.open(uri, s3a());
        StoreFixtures.assertSameValues(net.params(), s.toNetwork().params(), "parameters");

        Files.writeString(local.resolve("_COMMITTED"), "00000000");
        IllegalArgumentException stale = assertThrows(IllegalArgumentException.class, () -> ModelStore.open(uri, s3a()));
        assertEquals(uri + " is not a complete spark-mp store: no manifest.json (a write may have been interrupted);"
                + " _COMMITTED does not match manifest.json", stale.getMessage());

        Files.delete(local.resolve("_COMMITTED"));
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class, () -> ModelStore.open(uri, s3a()));
        assertTrue(missing.getMessage().endsWith("; _COMMITTED is missing"), missing.getMessage());
    }
}
