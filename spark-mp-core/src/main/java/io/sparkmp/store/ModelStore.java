package io.sparkmp.store;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.zip.CRC32C;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import io.sparkmp.model.GraphLayerState;
import io.sparkmp.model.GraphSlicer;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.sparkmp.model.LayerParameters;

/**
 * A complete per-layer model store: {@code manifest.json} plus one file per layer with parameters, in one
 * directory of any Hadoop FileSystem. Tasks write their own layers with {@link LayerFiles#write}; the
 * driver then calls {@link #commit}, which makes the store visible. A store whose manifest is absent
 * (or, on object stores, whose commit marker does not match it) does not open.
 *
 * <p>Not thread-safe; open one instance per reader.
 */
public final class ModelStore {

    public static final String MANIFEST = "manifest.json";
    /** On object stores: holds the CRC32C of the manifest it commits. */
    static final String COMMITTED = "_COMMITTED";
    private static final String PROBE = "_spark-mp-probe-";
    private static final Logger LOG = LoggerFactory.getLogger(ModelStore.class);

    private final URI uri;
    private final FileSystem fs;
    private final Path dir;
    private final StoreManifest manifest;

    private ModelStore(URI uri, FileSystem fs, Path dir, StoreManifest manifest) {
        this.uri = uri;
        this.fs = fs;
        this.dir = dir;
        this.manifest = manifest;
    }

    /**
     * Prepares {@code uri} to receive a store, on the driver before training, so that a bad location fails
     * before any work: creates the directory if needed, proves it writable by creating and deleting a probe
     * file, and refuses a directory that already holds entries unless {@code overwrite}. With
     * {@code overwrite} nothing is deleted here: the old store stays readable until the new one's
     * {@link #commit}, which removes the old layer files.
     *
     * @throws IllegalArgumentException when the location is a file, not writable, or not empty without
     *     {@code overwrite}
     */
    public static void prepareOutput(URI uri, Configuration hadoop, boolean overwrite) throws IOException {
        FileSystem fs = fileSystem(uri, hadoop);
        Path dir = new Path(uri);
        FileStatus st = statusOrNull(fs, dir);
        if (st != null && !st.isDirectory()) {
            throw new IllegalArgumentException(uri + " is a file, not a directory: a store needs a directory");
        }
        if (st == null) {
            try {
                if (!fs.mkdirs(dir)) {
                    throw new IllegalArgumentException("cannot create the store directory " + uri);
                }
            } catch (IOException e) {
                throw new IllegalArgumentException("cannot create the store directory " + uri + ": " + e.getMessage(), e);
            }
        }
        Path probe = new Path(dir, PROBE + UUID.randomUUID());
        try {
            fs.create(probe, false).close();
            fs.delete(probe, false);
        } catch (IOException e) {
            throw new IllegalArgumentException("the store directory " + uri + " is not writable: " + e.getMessage(), e);
        }
        FileStatus[] entries = fs.listStatus(dir);
        if (entries.length > 0 && !overwrite) {
            throw new IllegalArgumentException(uri + " is not empty (" + entries.length + " entries, e.g. "
                    + entries[0].getPath().getName() + "); pass --overwrite / overwrite(true) to replace it");
        }
    }

    /**
     * Makes the store at {@code uri} complete with {@code manifest}, after every layer file it names has
     * been written. The manifest is written last and atomically: on file systems with atomic rename
     * through a temporary file renamed over {@code manifest.json}; on object stores the old commit marker
     * is removed, the manifest written, then a marker {@code _COMMITTED} holding its checksum. Then layer
     * files the manifest does not name (older runs) and stale temporary files are deleted.
     *
     * @throws IOException when a named layer file is missing or of another size than recorded (nothing
     *     is committed then), or when the manifest cannot be written
     */
    public static void commit(URI uri, Configuration hadoop, StoreManifest manifest) throws IOException {
        FileSystem fs = fileSystem(uri, hadoop);
        Path dir = new Path(uri);
        checkLayerFiles(fs, dir, uri, manifest);
        byte[] json = manifest.toJson().getBytes(StandardCharsets.UTF_8);
        Path target = new Path(dir, MANIFEST);
        if (StoreSchemes.isObjectStore(uri)) {
            Path marker = new Path(dir, COMMITTED);
            fs.delete(marker, false);
            writeAll(fs, target, json);
            writeAll(fs, marker, checksum(json).getBytes(StandardCharsets.US_ASCII));
        } else {
            Path tmp = new Path(dir, MANIFEST + LayerFiles.TMP_MARK + UUID.randomUUID());
            try {
                writeAll(fs, tmp, json);
                StoreSchemes.renameOver(fs, tmp, target);
            } catch (IOException | RuntimeException e) {
                try {
                    fs.delete(tmp, false);
                } catch (IOException cleanup) {
                    e.addSuppressed(cleanup);
                }
                throw e;
            }
        }
        deleteUnnamed(fs, dir, manifest);
    }

    /**
     * Opens the complete store at {@code uri}. Each named layer file must exist with its recorded size;
     * checksums are verified when a layer is read.
     *
     * @throws IllegalArgumentException when the store is not complete (no manifest, or on object stores no
     *     matching commit marker) or its manifest is invalid
     * @throws IOException when a named layer file is missing or of another size
     */
    public static ModelStore open(URI uri, Configuration hadoop) throws IOException {
        FileSystem fs = fileSystem(uri, hadoop);
        Path dir = new Path(uri);
        String incomplete = uri + " is not a complete spark-mp store: no " + MANIFEST
                + " (a write may have been interrupted)";
        byte[] json;
        try {
            json = readAll(fs, new Path(dir, MANIFEST));
        } catch (FileNotFoundException e) {
            throw new IllegalArgumentException(incomplete, e);
        }
        if (StoreSchemes.isObjectStore(uri)) {
            String marker;
            try {
                marker = new String(readAll(fs, new Path(dir, COMMITTED)), StandardCharsets.US_ASCII).trim();
            } catch (FileNotFoundException e) {
                throw new IllegalArgumentException(incomplete + "; " + COMMITTED + " is missing", e);
            }
            if (!marker.equals(checksum(json))) {
                throw new IllegalArgumentException(incomplete + "; " + COMMITTED + " does not match " + MANIFEST);
            }
        }
        StoreManifest m;
        try {
            m = StoreManifest.fromJson(new String(json, StandardCharsets.UTF_8));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(uri + "/" + MANIFEST + ": " + e.getMessage(), e);
        }
        checkLayerFiles(fs, dir, uri, m);
        return new ModelStore(uri, fs, dir, m);
    }

    /**
     * Writes a whole network as a complete store at {@code uri} (an empty or new directory): every layer's
     * parameters, its updater state when the network has an updater, the network's iteration and epoch
     * counts, then the manifest. Streams from the network's own views; for networks that fit this JVM (a
     * DL4J zip or a network given to start training from).
     *
     * @param writer names the writer in the manifest (and tags its layer files: letters, digits and '-')
     */
    public static void write(URI uri, Configuration hadoop, MultiLayerNetwork net, long seed, String writer)
            throws IOException {
        prepareOutput(uri, hadoop, false);
        FileSystem fs = fileSystem(uri, hadoop);
        Path dir = new Path(uri);
        Map<Integer, List<INDArray>> params = LayerParameters.parameterSegments(net, 0);
        Map<Integer, List<INDArray>> state = net.getUpdater(false) == null ? Map.of()
                : LayerParameters.stateSegments(net, 0);
        List<LayerEntry> entries = LayerFiles.writeAll(fs, dir, writer, params, state);
        MultiLayerConfiguration conf = net.getLayerWiseConfigurations();
        commit(uri, hadoop, new StoreManifest(StoreManifest.FORMAT_VERSION, conf.toJson(), entries,
                conf.getIterationCount(), conf.getEpochCount(), 0, seed, new int[0], writer, System.currentTimeMillis()));
    }

    public StoreManifest manifest() {
        return manifest;
    }

    public URI uri() {
        return uri;
    }

    public boolean hasLayer(int layer) {
        return manifest.entry(layer) != null;
    }

    /** Reads layer {@code layer} into destination views (see {@link LayerFiles#readInto}). */
    public void readLayerInto(int layer, List<INDArray> params, List<INDArray> state) throws IOException {
        LayerFiles.readInto(fs, dir, entry(layer), params, state);
    }

    /** Reads layer {@code layer} into fresh rank-1 arrays {@code [params, state]}; state null when none. */
    public INDArray[] readLayer(int layer) throws IOException {
        return LayerFiles.read(fs, dir, entry(layer));
    }

    /**
     * Checks that {@code conf} is the stored model: same number of layers, then each layer's
     * configuration (iteration and epoch counters aside), then the data type.
     *
     * @throws IllegalArgumentException naming the first layer that differs, with both layers described
     */
    public void requireSameModel(MultiLayerConfiguration conf) {
        String d = ModelDiff.firstDifference(storedConfiguration(), conf);
        if (d != null) {
            throw new IllegalArgumentException(uri + " holds another model: " + d);
        }
    }

    /**
     * Assembles the whole model as a DL4J network: parameters, updater state and iteration/epoch counts.
     * Only for models that fit this JVM; the caller checks the size. Values are read straight into the
     * network's own parameter and updater views.
     *
     * @throws IOException when a layer file cannot be read or fails its checksum
     * @throws IllegalStateException when the stored layers do not fit the stored model
     */
    public MultiLayerNetwork toNetwork() throws IOException {
        MultiLayerConfiguration conf = storedConfiguration();
        conf.setIterationCount((int) Math.min(Integer.MAX_VALUE, manifest.updates()));
        conf.setEpochCount(manifest.epoch());
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        long n = 0;
        for (int i = 0; i < conf.getConfs().size(); i++) {
            n += LayerParameters.numParams(conf, i);
        }
        if (n == 0) {
            net.init();
            return net;
        }
        // Zeros instead of a random init: every value is overwritten from the store.
        net.init(Nd4j.create(conf.getDataType(), 1, n), false);
        net.getUpdater();
        Map<Integer, List<INDArray>> params = LayerParameters.parameterSegments(net, 0);
        Map<Integer, List<INDArray>> state = LayerParameters.stateSegments(net, 0);
        Set<Integer> stored = new HashSet<>();
        for (LayerEntry e : manifest.layers()) {
            stored.add(e.layer());
            if (!params.containsKey(e.layer())) {
                throw new IllegalStateException(uri + ": the manifest has a file for layer " + e.layer()
                        + ", which has no parameters in the stored model");
            }
        }
        for (int layer : params.keySet()) {
            if (!stored.contains(layer)) {
                throw new IllegalStateException(uri + ": layer " + layer + " has parameters but no file in the store");
            }
            LayerEntry e = manifest.entry(layer);
            List<INDArray> s = state.getOrDefault(layer, List.of());
            if (e.stateCount() != LayerFormat.totalLength(s)) {
                throw new IllegalStateException(uri + ": " + e.file() + " holds " + e.stateCount()
                        + " updater-state values, the stored model's updater keeps " + LayerFormat.totalLength(s)
                        + " for layer " + layer);
            }
            LayerFiles.readInto(fs, dir, e, params.get(layer), s);
        }
        return net;
    }

    /**
     * Assembles a ComputationGraph store (one written by a graph fit: its "layers" are the layer vertices with
     * parameters, numbered by their index in {@code GraphSlicer.order}) as a DL4J graph: parameters, updater state and
     * iteration/epoch counts. Only for graphs that fit this JVM.
     *
     * @throws IOException when a vertex file cannot be read or fails its checksum
     * @throws IllegalStateException when the manifest's model is not a ComputationGraphConfiguration or the stored
     *     vertices do not fit it
     */
    public ComputationGraph toGraph() throws IOException {
        ComputationGraphConfiguration conf;
        try {
            conf = ComputationGraphConfiguration.fromJson(manifest.modelJson());
        } catch (RuntimeException e) {
            throw new IllegalStateException(uri + ": the manifest's modelJson is not a DL4J ComputationGraphConfiguration: "
                    + e.getMessage(), e);
        }
        conf.setIterationCount((int) Math.min(Integer.MAX_VALUE, manifest.updates()));
        conf.setEpochCount(manifest.epoch());
        ComputationGraph graph = new ComputationGraph(conf);
        graph.init();
        List<String> order = GraphSlicer.order(conf);
        Map<Integer, List<INDArray>> params = GraphLayerState.parameterSegments(graph, order);
        Map<Integer, List<INDArray>> state = GraphLayerState.stateSegments(graph, order);
        for (LayerEntry e : manifest.layers()) {
            if (!params.containsKey(e.layer())) {
                throw new IllegalStateException(uri + ": the manifest has a file for vertex " + e.layer()
                        + " (topological index), which has no parameters in the stored graph");
            }
        }
        for (Map.Entry<Integer, List<INDArray>> p : params.entrySet()) {
            LayerEntry e = manifest.entry(p.getKey());
            if (e == null) {
                throw new IllegalStateException(uri + ": vertex " + order.get(p.getKey()) + " has parameters but no "
                        + "file in the store");
            }
            List<INDArray> s = e.stateCount() == 0 ? List.of() : state.getOrDefault(p.getKey(), List.of());
            if (e.stateCount() != LayerFormat.totalLength(s)) {
                throw new IllegalStateException(uri + ": " + e.file() + " holds " + e.stateCount()
                        + " updater-state values, the stored graph's updater keeps " + LayerFormat.totalLength(s)
                        + " for vertex " + order.get(p.getKey()));
            }
            LayerFiles.readInto(fs, dir, e, p.getValue(), s);
        }
        return graph;
    }

    /** Whether the manifest's model is a ComputationGraphConfiguration (a graph fit's store). */
    public boolean holdsGraph() {
        return io.sparkmp.model.ModelJson.isGraph(manifest.modelJson());
    }

    private MultiLayerConfiguration storedConfiguration() {
        try {
            return MultiLayerConfiguration.fromJson(manifest.modelJson());
        } catch (RuntimeException e) {
            throw new IllegalStateException(uri + ": the manifest's modelJson is not a DL4J MultiLayerConfiguration: "
                    + e.getMessage(), e);
        }
    }

    private LayerEntry entry(int layer) {
        LayerEntry e = manifest.entry(layer);
        if (e == null) {
            throw new IllegalArgumentException(uri + " holds no file for layer " + layer + " (stored layers: "
                    + manifest.layers().stream().map(LayerEntry::layer).toList() + ")");
        }
        return e;
    }

    private static void checkLayerFiles(FileSystem fs, Path dir, URI uri, StoreManifest m) throws IOException {
        for (LayerEntry e : m.layers()) {
            FileStatus st = statusOrNull(fs, new Path(dir, e.file()));
            if (st == null) {
                throw new IOException(uri + ": layer file " + e.file() + " (layer " + e.layer()
                        + ") named by the manifest does not exist");
            }
            if (st.getLen() != e.bytes()) {
                throw new IOException(uri + ": layer file " + e.file() + " is " + st.getLen()
                        + " bytes, the manifest records " + e.bytes() + " (truncated or replaced)");
            }
        }
    }

    private static void deleteUnnamed(FileSystem fs, Path dir, StoreManifest m) throws IOException {
        Set<String> named = new HashSet<>();
        for (LayerEntry e : m.layers()) {
            named.add(e.file());
        }
        for (FileStatus st : fs.listStatus(dir)) {
            String name = st.getPath().getName();
            boolean oldLayer = name.endsWith(LayerFiles.SUFFIX) && !name.startsWith(".") && !named.contains(name);
            boolean staleTmp = name.contains(LayerFiles.TMP_MARK)
                    && (name.startsWith(".") || name.startsWith(MANIFEST));
            if (st.isFile() && (oldLayer || staleTmp)) {
                try {
                    fs.delete(st.getPath(), false);
                } catch (IOException e) {
                    // The new store is already complete; a leftover file costs space, not correctness.
                    LOG.warn("store {} is committed, but {} could not be deleted: {}", dir, name, e.toString());
                }
            }
        }
    }

    private static FileSystem fileSystem(URI uri, Configuration hadoop) throws IOException {
        if (uri == null || hadoop == null) {
            throw new IllegalArgumentException("store URI and Hadoop configuration must not be null");
        }
        if (uri.getScheme() == null) {
            throw new IllegalArgumentException("store URI must have a scheme (file://, hdfs://, s3a://...), found " + uri);
        }
        return FileSystem.get(uri, hadoop);
    }

    private static FileStatus statusOrNull(FileSystem fs, Path p) throws IOException {
        try {
            return fs.getFileStatus(p);
        } catch (FileNotFoundException e) {
            return null;
        }
    }

    private static void writeAll(FileSystem fs, Path p, byte[] bytes) throws IOException {
        try (OutputStream out = fs.create(p, true)) {
            out.write(bytes);
        }
    }

    private static byte[] readAll(FileSystem fs, Path p) throws IOException {
        try (InputStream in = fs.open(p)) {
            return in.readAllBytes();
        }
    }

    static String checksum(byte[] bytes) {
        CRC32C crc = new CRC32C();
        crc.update(bytes);
        return LayerFiles.hex(crc.getValue());
    }
}
