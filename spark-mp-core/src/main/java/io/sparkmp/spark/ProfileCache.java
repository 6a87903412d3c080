package io.sparkmp.spark;

import io.sparkmp.plan.ModelProfile;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * Measured profiles by cache key (model + hardware, see {@code LayerProfiler.cacheKey}): in driver memory for
 * the life of the JVM, and optionally as {@code <key>.json} in a folder so that later applications skip the
 * profiling job. A file that cannot be read is measured again (and rewritten), never trusted half-way.
 */
final class ProfileCache {
    private static final Logger LOG = LoggerFactory.getLogger(ProfileCache.class);
    private static final Map<String, ModelProfile> MEMORY = new ConcurrentHashMap<>();

    private ProfileCache() {
    }

    /**
     * The cached profile under {@code key}, or {@code measure}'s result, which is then cached.
     *
     * @param folder folder of profile files, or null for memory only
     */
    static ModelProfile get(String key, Path folder, Supplier<ModelProfile> measure) {
        ModelProfile p = MEMORY.get(key);
        if (p != null) {
            return p;
        }
        Path file = folder == null ? null : folder.resolve(key + ".json");
        if (file != null && Files.isRegularFile(file)) {
            try {
                p = ModelProfile.fromJson(Files.readString(file, StandardCharsets.UTF_8));
                if (key.equals(p.cacheKey())) {
                    MEMORY.put(key, p);
                    return p;
                }
                LOG.warn("spark-mp: profile file {} holds key {}, not {}; measuring again", file, p.cacheKey(), key);
            } catch (IOException | RuntimeException e) {
                LOG.warn("spark-mp: cannot read profile file {} ({}); measuring again", file, e.toString());
            }
        }
        p = measure.get().withCacheKey(key);
        MEMORY.put(key, p);
        if (file != null) {
            write(file, p);
        }
        return p;
    }

    /** Forgets every in-memory entry (tests). */
    static void clearMemory() {
        MEMORY.clear();
    }

    private static void write(Path file, ModelProfile p) {
        try {
            Files.createDirectories(file.getParent());
            Path tmp = Files.createTempFile(file.getParent(), "." + file.getFileName(), ".tmp");
            try {
                Files.writeString(tmp, p.toJson(), StandardCharsets.UTF_8);
                try {
                    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
                }
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            // The profile is still used and kept in memory; only later applications lose it.
            LOG.warn("spark-mp: cannot write profile cache file {}: {}", file, e.toString());
        }
    }
}
