package io.sparkmp.store;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

import org.nd4j.shade.jackson.databind.JsonNode;
import org.nd4j.shade.jackson.databind.ObjectMapper;
import org.nd4j.shade.jackson.databind.node.ArrayNode;
import org.nd4j.shade.jackson.databind.node.ObjectNode;

/**
 * The store's manifest: the model, one entry per stored layer and where training stood. Written last, it
 * is what makes a store complete. Its JSON uses ND4J's shaded Jackson, which DL4J's own JSON needs anyway.
 *
 * @param formatVersion layout version of the store ({@link #FORMAT_VERSION})
 * @param modelJson the DL4J {@code MultiLayerConfiguration} JSON of the whole model
 * @param layers one entry per layer with parameters (kept in layer order, whatever order they are given in)
 * @param iteration optimizer steps taken so far
 * @param epoch epochs completed so far
 * @param stepInEpoch steps taken in the current epoch
 * @param seed the training seed (initialisation, dropout masks)
 * @param boundaries the stage boundaries of the run that wrote the store (layer index where each stage starts)
 * @param writer the id of the job that wrote the store
 * @param writtenAtMillis when the manifest was written, milliseconds since the epoch
 * @param skippedSteps of the {@code iteration} steps, those whose update was left out (non-finite gradient,
 *     {@code spark.mp.nonFinite=skip}): DL4J's iteration count is {@code iteration - skippedSteps}; absent in
 *     the JSON of stores written before, read as 0
 */
public record StoreManifest(int formatVersion, String modelJson, List<LayerEntry> layers, long iteration, int epoch,
                            long stepInEpoch, long seed, int[] boundaries, String writer, long writtenAtMillis,
                            long skippedSteps) {

    /** The only store layout this version reads and writes. */
    public static final int FORMAT_VERSION = 1;

    private static final ObjectMapper JSON = new ObjectMapper();

    public StoreManifest {
        if (formatVersion != FORMAT_VERSION) {
            throw new IllegalArgumentException("manifest formatVersion " + formatVersion
                    + " is not supported by this spark-mp (it reads " + FORMAT_VERSION + ")");
        }
        if (modelJson == null || modelJson.isBlank()) {
            throw new IllegalArgumentException("modelJson must not be empty");
        }
        if (layers == null || writer == null) {
            throw new IllegalArgumentException("layers and writer must not be null");
        }
        layers = layers.stream().sorted(java.util.Comparator.comparingInt(LayerEntry::layer)).toList();
        Set<Integer> seen = new HashSet<>();
        Set<String> files = new HashSet<>();
        for (LayerEntry e : layers) {
            if (!seen.add(e.layer())) {
                throw new IllegalArgumentException("layer " + e.layer() + " appears twice in the manifest");
            }
            if (!files.add(e.file())) {
                throw new IllegalArgumentException("file " + e.file() + " is named by two layers of the manifest");
            }
        }
        if (iteration < 0 || epoch < 0 || stepInEpoch < 0) {
            throw new IllegalArgumentException("iteration, epoch and stepInEpoch must be non-negative, found "
                    + iteration + ", " + epoch + ", " + stepInEpoch);
        }
        if (skippedSteps < 0 || skippedSteps > iteration) {
            throw new IllegalArgumentException("skippedSteps must be in [0, iteration " + iteration + "], found "
                    + skippedSteps);
        }
        boundaries = boundaries == null ? new int[0] : boundaries.clone();
    }

    /** A manifest of a run that skipped no step. */
    public StoreManifest(int formatVersion, String modelJson, List<LayerEntry> layers, long iteration, int epoch,
                         long stepInEpoch, long seed, int[] boundaries, String writer, long writtenAtMillis) {
        this(formatVersion, modelJson, layers, iteration, epoch, stepInEpoch, seed, boundaries, writer, writtenAtMillis, 0);
    }

    /** DL4J's iteration count: the updates applied ({@code iteration - skippedSteps}). */
    public long updates() {
        return iteration - skippedSteps;
    }

    @Override
    public int[] boundaries() {
        return boundaries.clone();
    }

    /** Bytes of all layer files (parameters and updater state): about what the whole model takes in memory. */
    public long layerBytes() {
        long n = 0;
        for (LayerEntry e : layers) {
            n += e.bytes();
        }
        return n;
    }

    /** The entry of {@code layer}, or null when the store holds no file for it. */
    public LayerEntry entry(int layer) {
        for (LayerEntry e : layers) {
            if (e.layer() == layer) {
                return e;
            }
        }
        return null;
    }

    public String toJson() {
        ObjectNode o = JSON.createObjectNode();
        o.put("formatVersion", formatVersion);
        o.put("writer", writer);
        o.put("writtenAtMillis", writtenAtMillis);
        o.put("iteration", iteration);
        o.put("epoch", epoch);
        o.put("stepInEpoch", stepInEpoch);
        if (skippedSteps > 0) {
            o.put("skippedSteps", skippedSteps);
        }
        o.put("seed", seed);
        ArrayNode b = o.putArray("boundaries");
        for (int x : boundaries) {
            b.add(x);
        }
        ArrayNode ls = o.putArray("layers");
        for (LayerEntry e : layers) {
            ObjectNode l = ls.addObject();
            l.put("layer", e.layer());
            l.put("file", e.file());
            l.put("dataType", e.dataType());
            l.put("paramCount", e.paramCount());
            l.put("stateCount", e.stateCount());
            l.put("bytes", e.bytes());
            l.put("checksum", e.checksum());
        }
        o.put("modelJson", modelJson);
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(o) + "\n";
        } catch (IOException e) {
            throw new IllegalStateException("cannot write the manifest as JSON", e);
        }
    }

    /**
     * Parses a manifest.
     *
     * @throws IllegalArgumentException for malformed JSON, an absent or mistyped field (named), or a
     *     formatVersion this version does not read
     */
    public static StoreManifest fromJson(String json) {
        if (json == null) {
            throw new IllegalArgumentException("manifest JSON must not be null");
        }
        JsonNode o;
        try {
            o = JSON.readTree(json);
        } catch (IOException e) {
            throw new IllegalArgumentException("manifest is not valid JSON: " + e.getMessage(), e);
        }
        if (o == null || !o.isObject()) {
            throw new IllegalArgumentException("manifest must be a JSON object");
        }
        int version = (int) integer(o, "formatVersion", "manifest");
        if (version != FORMAT_VERSION) {
            throw new IllegalArgumentException("manifest formatVersion " + version
                    + " is not supported by this spark-mp (it reads " + FORMAT_VERSION + ")");
        }
        List<LayerEntry> layers = new ArrayList<>();
        for (JsonNode l : array(o, "layers", "manifest")) {
            String where = "manifest layer entry " + layers.size();
            layers.add(new LayerEntry((int) integer(l, "layer", where), text(l, "file", where),
                    text(l, "dataType", where), integer(l, "paramCount", where), integer(l, "stateCount", where),
                    integer(l, "bytes", where), text(l, "checksum", where)));
        }
        List<Integer> boundaries = new ArrayList<>();
        for (JsonNode b : array(o, "boundaries", "manifest")) {
            if (!b.canConvertToInt()) {
                throw new IllegalArgumentException("manifest field boundaries must hold integers, found " + b);
            }
            boundaries.add(b.intValue());
        }
        return new StoreManifest(version, text(o, "modelJson", "manifest"), layers, integer(o, "iteration", "manifest"),
                (int) integer(o, "epoch", "manifest"), integer(o, "stepInEpoch", "manifest"),
                integer(o, "seed", "manifest"), boundaries.stream().mapToInt(Integer::intValue).toArray(),
                text(o, "writer", "manifest"), integer(o, "writtenAtMillis", "manifest"),
                o.has("skippedSteps") ? integer(o, "skippedSteps", "manifest") : 0);
    }

    private static JsonNode field(JsonNode o, String name, String where) {
        JsonNode v = o.get(name);
        if (v == null || v.isNull()) {
            throw new IllegalArgumentException(where + " has no field " + name);
        }
        return v;
    }

    private static long integer(JsonNode o, String name, String where) {
        JsonNode v = field(o, name, where);
        if (!v.isIntegralNumber() || !v.canConvertToLong()) {
            throw new IllegalArgumentException(where + " field " + name + " must be an integer, found " + v);
        }
        return v.longValue();
    }

    private static String text(JsonNode o, String name, String where) {
        JsonNode v = field(o, name, where);
        if (!v.isTextual()) {
            throw new IllegalArgumentException(where + " field " + name + " must be a string, found " + v);
        }
        return v.textValue();
    }

    private static JsonNode array(JsonNode o, String name, String where) {
        JsonNode v = field(o, name, where);
        if (!v.isArray()) {
            throw new IllegalArgumentException(where + " field " + name + " must be an array, found " + v);
        }
        return v;
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof StoreManifest m && formatVersion == m.formatVersion && iteration == m.iteration
                && epoch == m.epoch && stepInEpoch == m.stepInEpoch && seed == m.seed
                && writtenAtMillis == m.writtenAtMillis && modelJson.equals(m.modelJson) && layers.equals(m.layers)
                && Arrays.equals(boundaries, m.boundaries) && writer.equals(m.writer) && skippedSteps == m.skippedSteps;
    }

    @Override
    public int hashCode() {
        return Objects.hash(formatVersion, modelJson, layers, iteration, epoch, stepInEpoch, seed,
                Arrays.hashCode(boundaries), writer, writtenAtMillis, skippedSteps);
    }

    @Override
    public String toString() {
        return "StoreManifest[formatVersion=" + formatVersion + ", layers=" + layers + ", iteration=" + iteration
                + ", epoch=" + epoch + ", stepInEpoch=" + stepInEpoch + ", skippedSteps=" + skippedSteps + ", seed=" + seed
                + ", boundaries="
                + Arrays.toString(boundaries) + ", writer=" + writer + ", writtenAtMillis=" + writtenAtMillis
                + ", modelJson=" + modelJson.length() + " chars]";
    }
}
