package io.sparkmp.store;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A checkpoint directory: one complete per-layer store per checkpoint, in sub-directories named by the
 * optimizer step they hold ({@code step-000000120} holds the model after 120 steps). A checkpoint counts only
 * once its manifest is committed; an incomplete one (a writer died) is skipped with a warning naming it.
 */
@io.sparkmp.Internal
public final class CheckpointDir {
    private static final Logger LOG = LoggerFactory.getLogger(CheckpointDir.class);
    private static final Pattern STEP = Pattern.compile("step-(\\d{9,})");

    private CheckpointDir() {
    }

    /** The store of the checkpoint after {@code iteration} steps. */
    public static URI stepDir(URI dir, long iteration) {
        if (iteration < 0) {
            throw new IllegalArgumentException("iteration must be >= 0, found " + iteration);
        }
        return new Path(new Path(dir), String.format("step-%09d", iteration)).toUri();
    }

    /**
     * Whether {@code dir} is a checkpoint directory (holds {@code step-*} entries) rather than a store.
     */
    public static boolean isCheckpointDir(URI dir, Configuration hadoop) throws IOException {
        return !steps(dir, hadoop).isEmpty();
    }

    /**
     * The newest complete checkpoint in {@code dir}, or null when there is none (or {@code dir} does not
     * exist).
     *
     * @param writerOrNull only checkpoints written by this job id count; null: any writer
     */
    public static ModelStore newest(URI dir, Configuration hadoop, String writerOrNull) throws IOException {
        List<Long> steps = new ArrayList<>(steps(dir, hadoop).keySet());
        for (int i = steps.size() - 1; i >= 0; i--) {
            URI step = stepDir(dir, steps.get(i));
            ModelStore s = openIfComplete(step, hadoop);
            if (s != null && (writerOrNull == null || writerOrNull.equals(s.manifest().writer()))) {
                return s;
            }
        }
        return null;
    }

    /**
     * The checkpoint at {@code step} opened as readers open it ({@link ModelStore#open}: manifest present and
     * valid, on object stores a commit marker matching it, every named layer file of its recorded size), or
     * null with a warning naming it when it is not complete.
     */
    private static ModelStore openIfComplete(URI step, Configuration hadoop) {
        try {
            return ModelStore.open(step, hadoop);
        } catch (IllegalArgumentException | IOException e) {
            LOG.warn("spark-mp: skipping checkpoint {}: {}", step, e.getMessage());
            return null;
        }
    }

    /**
     * Deletes all but the newest {@code keep} complete checkpoints, and incomplete ones older than the oldest
     * kept (a newer incomplete one may be being written). Complete means what it means to readers
     * ({@link #newest}, {@link ModelStore#open}).
     */
    public static void prune(URI dir, Configuration hadoop, int keep) throws IOException {
        if (keep < 1) {
            throw new IllegalArgumentException("keep must be >= 1, found " + keep);
        }
        FileSystem fs = FileSystem.get(dir, hadoop);
        TreeMap<Long, Path> steps = steps(dir, hadoop);
        int kept = 0;
        for (Long step : steps.descendingKeySet()) {
            Path p = steps.get(step);
            // The readers' test, not only "has a manifest": on object stores a manifest without its commit marker
            // (a writer died between the two) must neither be kept in place of a complete one nor count as kept.
            boolean complete = openIfComplete(stepDir(dir, step), hadoop) != null;
            if (complete && kept < keep) {
                kept++;
                continue;
            }
            if (kept >= keep || complete) {
                if (!fs.delete(p, true)) {
                    LOG.warn("spark-mp: could not delete old checkpoint {}", p);
                }
            }
        }
    }

    private static TreeMap<Long, Path> steps(URI dir, Configuration hadoop) throws IOException {
        FileSystem fs = FileSystem.get(dir, hadoop);
        TreeMap<Long, Path> out = new TreeMap<>();
        FileStatus[] entries;
        try {
            entries = fs.listStatus(new Path(dir));
        } catch (FileNotFoundException e) {
            return out;
        }
        for (FileStatus st : entries) {
            Matcher m = STEP.matcher(st.getPath().getName());
            if (st.isDirectory() && m.matches()) {
                out.put(Long.parseLong(m.group(1)), st.getPath());
            }
        }
        return out;
    }
}
