package io.sparkmp.plan;

import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * The profile of a whole (sequential) model: its layers in order plus what the first stage receives.
 * Serializable as a Java object and as JSON text ({@link #toJson()} / {@link #fromJson(String)}) so that a
 * measured profile can be cached under {@link #cacheKey()}.
 *
 * @param layers the layers, in forward order; names must be unique
 * @param inputBytesPerExample bytes of one example of the model input (what stage 0 receives)
 * @param dataType training data type, e.g. {@code FLOAT}
 * @param updater updater name, e.g. {@code Adam} (decides the updater bytes in the layers)
 * @param timeSource where the layer times came from
 * @param sampleMicroBatch micro-batch size the times were measured at (0 for analytic)
 * @param cacheKey key this profile is cached under (see {@link #cacheKey(String, String)}); may be empty
 * @param cuts for a graph model (its "layers" are its vertices in topological order): entry {@code k} is what
 *     crosses the cut before vertex {@code k}, for {@code k} in 0..layers (entries 0 and {@code layers} empty);
 *     empty for a sequential model, whose cut before layer {@code k} carries layer {@code k - 1}'s output alone
 */
public record ModelProfile(List<LayerProfile> layers, long inputBytesPerExample, String dataType, String updater,
                           TimeSource timeSource, int sampleMicroBatch, String cacheKey, List<CutProfile> cuts)
        implements Serializable {

    private static final long serialVersionUID = 1L;

    /** Where layer times come from. */
    public enum TimeSource {
        /** Forward FLOPs divided by a FLOP rate; backward = 2 x forward. */
        ANALYTIC,
        /** Timed forward and backward of each layer on sample micro-batches (median of repeats). */
        MEASURED
    }

    public ModelProfile {
        if (layers == null || layers.isEmpty()) {
            throw new IllegalArgumentException("a model profile needs at least one layer, found "
                    + (layers == null ? "null" : "0"));
        }
        layers = List.copyOf(layers);
        Map<String, Integer> seen = new HashMap<>();
        for (int i = 0; i < layers.size(); i++) {
            Integer prev = seen.put(layers.get(i).name(), i);
            if (prev != null) {
                throw new IllegalArgumentException("layer name '" + layers.get(i).name() + "' is used by layers "
                        + prev + " and " + i + "; names must be unique");
            }
        }
        if (inputBytesPerExample < 0) {
            throw new IllegalArgumentException("inputBytesPerExample must be >= 0, found " + inputBytesPerExample);
        }
        if (sampleMicroBatch < 0) {
            throw new IllegalArgumentException("sampleMicroBatch must be >= 0, found " + sampleMicroBatch);
        }
        if (timeSource == null) {
            throw new IllegalArgumentException("timeSource must not be null");
        }
        dataType = dataType == null ? "" : dataType;
        updater = updater == null ? "" : updater;
        cacheKey = cacheKey == null ? "" : cacheKey;
        cuts = cuts == null ? List.of() : List.copyOf(cuts);
        if (!cuts.isEmpty() && cuts.size() != layers.size() + 1) {
            throw new IllegalArgumentException("a graph profile needs one cut per position 0.." + layers.size() + " ("
                    + (layers.size() + 1) + " entries), found " + cuts.size());
        }
    }

    /** A sequential model's profile (no cut list: each cut carries the previous layer's output). */
    public ModelProfile(List<LayerProfile> layers, long inputBytesPerExample, String dataType, String updater,
                        TimeSource timeSource, int sampleMicroBatch, String cacheKey) {
        this(layers, inputBytesPerExample, dataType, updater, timeSource, sampleMicroBatch, cacheKey, List.of());
    }

    /** Whether this is a graph model's profile (cuts listed per position). */
    public boolean isGraph() {
        return !cuts.isEmpty();
    }

    /**
     * Bytes per example crossing the cut before layer {@code k} (0 &lt; k &lt; layers): every crossing tensor of a
     * graph, the previous layer's output of a sequential model.
     */
    public long cutBytesPerExample(int k) {
        return isGraph() ? cuts.get(k).bytesPerExample() : layers.get(k - 1).outputBytesPerExample();
    }

    /** Names of what crosses the cut before layer {@code k}: the crossing tensors, or the previous layer's name. */
    public List<String> cutTensors(int k) {
        return isGraph() ? cuts.get(k).tensors() : List.of(layers.get(k - 1).name());
    }

    /** A profile from hand-written numbers (tests, what-if studies). */
    public static ModelProfile of(List<LayerProfile> layers, long inputBytesPerExample) {
        return new ModelProfile(layers, inputBytesPerExample, "FLOAT", "", TimeSource.ANALYTIC, 0, "");
    }

    /** Number of layers. */
    public int layerCount() {
        return layers.size();
    }

    /** Layer {@code i}. */
    public LayerProfile layer(int i) {
        return layers.get(i);
    }

    /**
     * Index of the layer called {@code name}.
     *
     * @throws IllegalArgumentException when no layer has that name
     */
    public int indexOf(String name) {
        for (int i = 0; i < layers.size(); i++) {
            if (layers.get(i).name().equals(name)) {
                return i;
            }
        }
        throw new IllegalArgumentException("no layer named '" + name + "' (the model has " + layers.size()
                + " layers: " + layers.get(0).name() + " .. " + layers.get(layers.size() - 1).name() + ")");
    }

    /**
     * Bytes per example that enter layer {@code i}: the model input for 0, else what crosses the cut before it (the
     * output of layer i-1; for a graph every crossing tensor, so a stage's kept inputs count the skip connections it
     * holds or relays).
     */
    public long inputBytesPerExample(int i) {
        return i == 0 ? inputBytesPerExample : cutBytesPerExample(i);
    }

    /**
     * Bytes per example leaving a stage that ends before layer {@code b}: what crosses the cut there, or the last
     * layer's output when {@code b} is the layer count.
     */
    public long outputBytesPerExample(int b) {
        return b < layers.size() ? cutBytesPerExample(b) : layers.get(b - 1).outputBytesPerExample();
    }

    /** Total trainable parameters. */
    public long totalParameters() {
        long s = 0;
        for (LayerProfile l : layers) {
            s += l.parameters();
        }
        return s;
    }

    /** The same profile with every layer's time replaced by the FLOP estimate at {@code flopsPerSecond}. */
    public ModelProfile withFlopTimes(double flopsPerSecond) {
        return new ModelProfile(layers.stream().map(l -> l.withFlopTimes(flopsPerSecond)).toList(),
                inputBytesPerExample, dataType, updater, TimeSource.ANALYTIC, 0, cacheKey, cuts);
    }

    /** The same profile filed under another cache key. */
    public ModelProfile withCacheKey(String key) {
        return new ModelProfile(layers, inputBytesPerExample, dataType, updater, timeSource, sampleMicroBatch, key, cuts);
    }

    /**
     * The key a measured profile is cached under: SHA-256 (hex) of the model description (e.g. the DL4J
     * configuration JSON plus the input type) and the hardware description (CPU/GPU model, backend, threads).
     * Two runs get the same key exactly when both strings are equal.
     */
    public static String cacheKey(String modelDescription, String hardwareDescription) {
        if (modelDescription == null || hardwareDescription == null) {
            throw new IllegalArgumentException("model and hardware descriptions must not be null");
        }
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(modelDescription.getBytes(StandardCharsets.UTF_8));
            md.update((byte) 0);
            md.update(hardwareDescription.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 missing from this JVM", e);
        }
    }

    /** JSON text of this profile; {@link #fromJson(String)} reads it back to an equal profile. */
    public String toJson() {
        return ProfileJson.write(this);
    }

    /**
     * Reads a profile written by {@link #toJson()}.
     *
     * @throws IllegalArgumentException on malformed text, naming the position
     */
    public static ModelProfile fromJson(String json) {
        return ProfileJson.read(json);
    }
}
