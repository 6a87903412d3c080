package io.sparkmp.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.Nesterovs;
import org.nd4j.linalg.learning.config.RmsProp;
import org.nd4j.linalg.learning.config.Sgd;

import io.sparkmp.model.LayerParameters;

class ModelStoreTest {

    @TempDir
    java.nio.file.Path tmp;

    private URI store() {
        return tmp.resolve("store").toUri();
    }

    static Stream<Arguments> updaters() {
        return Stream.of(Arguments.of(new Adam(0.01), DataType.DOUBLE), Arguments.of(new Nesterovs(0.05, 0.9), DataType.FLOAT),
                Arguments.of(new RmsProp(0.01), DataType.DOUBLE), Arguments.of(new Adam(0.01), DataType.HALF),
                Arguments.of(new Sgd(0.1), DataType.FLOAT));
    }

    @ParameterizedTest
    @MethodSource("updaters")
    void trainedNetworkComesBackExactlyAndTrainsOnIdentically(IUpdater updater, DataType type) throws IOException {
        MultiLayerNetwork net = StoreFixtures.trained(type, updater, 2);
        ModelStore.prepareOutput(store(), StoreFixtures.hadoop(), false);
        StoreManifest written = StoreFixtures.store(net, store(), "job1");

        ModelStore s = ModelStore.open(store(), StoreFixtures.hadoop());
        assertEquals(written, s.manifest());
        assertTrue(s.hasLayer(0) && s.hasLayer(1) && !s.hasLayer(2));
        MultiLayerNetwork back = s.toNetwork();

        assertEquals(2, back.getIterationCount());
        assertEquals(net.getEpochCount(), back.getEpochCount());
        assertEquals(type, back.params().dataType());
        StoreFixtures.assertSameValues(net.params(), back.params(), "parameters");
        boolean stateful = !(updater instanceof Sgd);
        assertEquals(stateful, s.manifest().layers().get(0).stateCount() > 0);
        if (stateful) {
            StoreFixtures.assertSameValues(net.getUpdater().getStateViewArray(), back.getUpdater().getStateViewArray(),
                    "updater state");
        }
        // Same parameters, state and iteration count: the next step is identical too (Adam's bias correction
        // reads the iteration count).
        net.fit(StoreFixtures.data(type, 7));
        back.fit(StoreFixtures.data(type, 7));
        StoreFixtures.assertSameValues(net.params(), back.params(), "parameters after one more step");
    }

    @Test
    void writeStoresAWholeNetworkWithUpdaterStateAndCountsAndRefusesANonEmptyPlace() throws IOException {
        MultiLayerNetwork net = StoreFixtures.trained(DataType.DOUBLE, new Adam(0.01), 3);
        ModelStore.write(store(), StoreFixtures.hadoop(), net, 9, "init-1");
        ModelStore s = ModelStore.open(store(), StoreFixtures.hadoop());
        assertEquals(3, s.manifest().iteration());
        assertEquals(9, s.manifest().seed());
        assertEquals("layer-00001-init-1.bin", s.manifest().entry(1).file());
        MultiLayerNetwork back = s.toNetwork();
        StoreFixtures.assertSameValues(net.params(), back.params(), "parameters");
        StoreFixtures.assertSameValues(net.getUpdater().getStateViewArray(), back.getUpdater().getStateViewArray(),
                "updater state");
        assertEquals(s.manifest().layerBytes(), Files.size(tmp.resolve("store/layer-00000-init-1.bin"))
                + Files.size(tmp.resolve("store/layer-00001-init-1.bin")));

        MultiLayerNetwork fresh = new MultiLayerNetwork(StoreFixtures.mlp(DataType.DOUBLE, new Adam(0.01), 5));
        fresh.init();
        IllegalArgumentException full = assertThrows(IllegalArgumentException.class,
                () -> ModelStore.write(store(), StoreFixtures.hadoop(), fresh, 9, "init-2"));
        assertTrue(full.getMessage().contains("is not empty"), full.getMessage());
        URI other = tmp.resolve("fresh").toUri();
        ModelStore.write(other, StoreFixtures.hadoop(), fresh, 9, "init-2");
        assertEquals(0, ModelStore.open(other, StoreFixtures.hadoop()).manifest().entry(0).stateCount(),
                "a network without an updater is stored without state");
    }

    @Test
    void readLayerReturnsOneLayersParametersAndState() throws IOException {
        MultiLayerNetwork net = StoreFixtures.trained(DataType.DOUBLE, new Adam(0.01), 2);
        StoreFixtures.store(net, store(), "job1");
        INDArray[] layer1 = ModelStore.open(store(), StoreFixtures.hadoop()).readLayer(1);
        StoreFixtures.assertSameValues(net.getLayer(1).params(), layer1[0], "layer 1 parameters");
        assertEquals(2 * layer1[0].length(), layer1[1].length(), "Adam keeps M and V per parameter");
        IllegalArgumentException none = assertThrows(IllegalArgumentException.class,
                () -> ModelStore.open(store(), StoreFixtures.hadoop()).readLayer(5));
        assertTrue(none.getMessage().endsWith("holds no file for layer 5 (stored layers: [0, 1])"), none.getMessage());
    }

    @Test
    void segmentsAreViewsOfTheNetwork() {
        MultiLayerNetwork net = StoreFixtures.trained(DataType.DOUBLE, new Adam(0.01), 1);
        LayerParameters.parameterSegments(net, 0).get(1).get(0).assign(0.25);
        assertEquals(0.25, net.getLayer(1).params().getDouble(0));
        List<INDArray> state = LayerParameters.stateSegments(net, 3).get(3);
        assertEquals(4, state.size(), "Adam: M and V slices of W, then of b");
        state.get(1).assign(0.5);
        assertEquals(20, state.get(1).length(), "V of the 4x5 weights");
        assertEquals(20, net.getUpdater().getStateViewArray().eq(0.5).castTo(DataType.INT).sumNumber().intValue(),
                "the write went into the updater's own state");
    }

    @Test
    void layerFilesWithoutACommitAreNoStore() throws IOException {
        MultiLayerNetwork net = StoreFixtures.trained(DataType.FLOAT, new Adam(0.01), 2);
        ModelStore.prepareOutput(store(), StoreFixtures.hadoop(), false);
        StoreFixtures.writeLayers(net, store(), "job1");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ModelStore.open(store(), StoreFixtures.hadoop()));
        assertEquals(store() + " is not a complete spark-mp store: no manifest.json (a write may have been interrupted)",
                e.getMessage());
    }

    @Test
    void corruptedOrTruncatedLayerUnderACommittedManifestFailsNamingTheFile() throws IOException {
        MultiLayerNetwork net = StoreFixtures.trained(DataType.DOUBLE, new Nesterovs(0.05, 0.9), 2);
        StoreManifest m = StoreFixtures.store(net, store(), "job1");
        java.nio.file.Path file = tmp.resolve("store").resolve(StoreFixtures.fileName(0, "job1"));
        byte[] bytes = Files.readAllBytes(file);
        bytes[bytes.length - 3] ^= 0x01;
        Files.write(file, bytes);
        Files.delete(file.resolveSibling("." + file.getFileName() + ".crc"));
        ModelStore s = ModelStore.open(store(), StoreFixtures.hadoop());
        IOException e = assertThrows(IOException.class, s::toNetwork);
        assertTrue(e.getMessage().contains(file.getFileName().toString()) && e.getMessage().contains("checksum")
                && e.getMessage().contains(m.layers().get(0).checksum()), e.getMessage());

        Files.write(file, java.util.Arrays.copyOf(bytes, bytes.length / 2));
        IOException shortFile = assertThrows(IOException.class, () -> ModelStore.open(store(), StoreFixtures.hadoop()));
        assertEquals(store() + ": layer file " + file.getFileName() + " is " + bytes.length / 2
                + " bytes, the manifest records " + bytes.length + " (truncated or replaced)", shortFile.getMessage());
    }

    @Test
    void commitReplacesAnOlderStoreAndDeletesOnlyItsLayerFiles() throws IOException {
        URI uri = store();
        StoreFixtures.store(StoreFixtures.trained(DataType.DOUBLE, new Adam(0.01), 1), uri, "old");
        Files.writeString(tmp.resolve("store").resolve("notes.txt"), "kept");
        ModelStore.prepareOutput(uri, StoreFixtures.hadoop(), true);
        MultiLayerNetwork net = StoreFixtures.trained(DataType.DOUBLE, new Adam(0.01), 3);
        StoreFixtures.store(net, uri, "new");

        try (Stream<java.nio.file.Path> files = Files.list(tmp.resolve("store"))) {
            Set<String> names = files.map(p -> p.getFileName().toString()).filter(n -> !n.endsWith(".crc"))
                    .collect(Collectors.toSet());
            assertEquals(Set.of("manifest.json", "notes.txt", StoreFixtures.fileName(0, "new"),
                    StoreFixtures.fileName(1, "new")), names);
        }
        assertEquals(3, ModelStore.open(uri, StoreFixtures.hadoop()).toNetwork().getIterationCount());
    }

    @Test
    void commitRefusesAManifestNamingAMissingFile() throws IOException {
        MultiLayerNetwork net = StoreFixtures.trained(DataType.DOUBLE, new Adam(0.01), 1);
        List<LayerEntry> entries = StoreFixtures.writeLayers(net, store(), "job1");
        Files.delete(tmp.resolve("store").resolve(StoreFixtures.fileName(1, "job1")));
        IOException e = assertThrows(IOException.class,
                () -> ModelStore.commit(store(), StoreFixtures.hadoop(), StoreFixtures.manifest(net, entries, "job1")));
        assertTrue(e.getMessage().endsWith("layer file " + StoreFixtures.fileName(1, "job1")
                + " (layer 1) named by the manifest does not exist"), e.getMessage());
        assertFalse(Files.exists(tmp.resolve("store").resolve(ModelStore.MANIFEST)));
    }

    @Test
    void prepareOutputRefusesNonEmptyAcceptsOverwriteAndFailsOnUnwritablePlaces() throws IOException {
        URI uri = store();
        ModelStore.prepareOutput(uri, StoreFixtures.hadoop(), false);
        assertTrue(Files.isDirectory(tmp.resolve("store")));
        try (Stream<java.nio.file.Path> files = Files.list(tmp.resolve("store"))) {
            assertEquals(0, files.count(), "the probe file is gone");
        }
        ModelStore.prepareOutput(uri, StoreFixtures.hadoop(), false);

        Files.writeString(tmp.resolve("store").resolve("a.txt"), "x");
        IllegalArgumentException full = assertThrows(IllegalArgumentException.class,
                () -> ModelStore.prepareOutput(uri, StoreFixtures.hadoop(), false));
        assertEquals(uri + " is not empty (1 entries, e.g. a.txt); pass --overwrite / overwrite(true) to replace it",
                full.getMessage());
        ModelStore.prepareOutput(uri, StoreFixtures.hadoop(), true);

        java.nio.file.Path regular = Files.writeString(tmp.resolve("plain-file"), "x");
        URI under = URI.create(regular.toUri() + "/store");
        IllegalArgumentException notDir = assertThrows(IllegalArgumentException.class,
                () -> ModelStore.prepareOutput(under, StoreFixtures.hadoop(), true));
        assertTrue(notDir.getMessage().startsWith("cannot create the store directory " + under), notDir.getMessage());
        IllegalArgumentException isFile = assertThrows(IllegalArgumentException.class,
                () -> ModelStore.prepareOutput(regular.toUri(), StoreFixtures.hadoop(), true));
        assertTrue(isFile.getMessage().endsWith("is a file, not a directory: a store needs a directory"),
                isFile.getMessage());
    }

    @Test
    void requireSameModelNamesTheFirstDifferingLayer() throws IOException {
        MultiLayerNetwork net = StoreFixtures.trained(DataType.DOUBLE, new Adam(0.01), 2);
        StoreFixtures.store(net, store(), "job1");
        ModelStore s = ModelStore.open(store(), StoreFixtures.hadoop());
        s.requireSameModel(StoreFixtures.mlp(DataType.DOUBLE, new Adam(0.01), 5));

        MultiLayerConfiguration wider = StoreFixtures.mlp(DataType.DOUBLE, new Adam(0.01), 6);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> s.requireSameModel(wider));
        assertTrue(e.getMessage().startsWith(store() + " holds another model: layer 0 differs from the stored model at layer.nout (stored 5, given 6)"),
                e.getMessage());
        assertTrue(e.getMessage().contains("stored: DenseLayer \"layer0\" nIn=4 nOut=5")
                && e.getMessage().contains("given:  DenseLayer \"layer0\" nIn=4 nOut=6"), e.getMessage());

        IllegalArgumentException updater = assertThrows(IllegalArgumentException.class,
                () -> s.requireSameModel(StoreFixtures.mlp(DataType.DOUBLE, new Adam(0.02), 5)));
        assertTrue(updater.getMessage().contains("layer 0 differs") && updater.getMessage().contains("learningRate"),
                updater.getMessage());
    }
}
