package io.sparkmp.spark;

import io.sparkmp.plan.ModelProfile;
import io.sparkmp.plan.RuntimeCosts;
import io.sparkmp.runtime.AtomicFiles;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * Measured profiles by cache key (model + hardware, see {@code LayerProfiler.cacheKey}): in driver memory for
 * the life of the JVM, and optionally as {@code <key>.json} (the profile) plus {@code <key>.update} (the
 * optimizer step seconds per parameter) and {@code <key>.runtime} (the runtime costs, {@link RuntimeCosts#format})
 * in a folder so that later applications skip the profiling job. A file that cannot be read is measured again (and rewritten), never trusted half-way.
 */
final class ProfileCache {
    private static final Logger LOG = LoggerFactory.getLogger(ProfileCache.class);
    private static final Map<String, MeasuredProfile> MEMORY = new ConcurrentHashMap<>();

    private ProfileCache() {
    }

    /**
     * The cached profile under {@code key}, or {@code measure}'s result, which is then cached.
     *
     * @param folder folder of profile files, or null for memory only
     */
    static MeasuredProfile get(String key, Path folder, Supplier<MeasuredProfile> measure) {
        MeasuredProfile p = MEMORY.get(key);
        if (p != null) {
            return p;
        }
        Path file = folder == null ? null : folder.resolve(key + ".json");
        Path update = folder == null ? null : folder.resolve(key + ".update");
        Path runtime = folder == null ? null : folder.resolve(key + ".runtime");
        if (file != null && Files.isRegularFile(file) && Files.isRegularFile(update) && Files.isRegularFile(runtime)) {
            try {
                ModelProfile mp = ModelProfile.fromJson(Files.readString(file, StandardCharsets.UTF_8));
                double rate = Double.parseDouble(Files.readString(update, StandardCharsets.UTF_8).trim());
                RuntimeCosts costs = RuntimeCosts.parse(Files.readString(runtime, StandardCharsets.UTF_8));
                if (key.equals(mp.cacheKey())) {
                    p = new MeasuredProfile(mp, rate, costs);
                    MEMORY.put(key, p);
                    return p;
                }
                LOG.warn("spark-mp: profile file {} holds key {}, not {}; measuring again", file, mp.cacheKey(), key);
            } catch (IOException | RuntimeException e) {
                LOG.warn("spark-mp: cannot read profile file {} ({}); measuring again", file, e.toString());
            }
        }
        MeasuredProfile m = measure.get();
        p = new MeasuredProfile(m.profile().withCacheKey(key), m.updateSecondsPerParameter(), m.runtimeCosts());
        MEMORY.put(key, p);
        if (file != null) {
            // The rate and the runtime costs first: a profile file without them is never read.
            write(update, Double.toString(p.updateSecondsPerParameter()));
            write(runtime, p.runtimeCosts().format());
            write(file, p.profile().toJson());
        }
        return p;
    }

    /** Forgets every in-memory entry (tests). */
    static void clearMemory() {
        MEMORY.clear();
    }

    private static void write(Path file, String text) {
        try {
            AtomicFiles.replace(file, tmp -> Files.writeString(tmp, text, StandardCharsets.UTF_8));
        } catch (IOException e) {
            // The profile is still used and kept in memory; only later applications lose it.
            LOG.warn("spark-mp: cannot write profile cache file {}: {}", file, e.toString());
        }
    }
}
