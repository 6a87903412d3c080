package io.sparkmp.spark;

import io.sparkmp.store.CheckpointDir;
import io.sparkmp.store.LayerEntry;
import io.sparkmp.store.ModelStore;
import io.sparkmp.store.StoreManifest;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.BarrierTaskContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;

/**
 * A task's checkpoints (executor side). At a step boundary every rank writes its layers into the
 * checkpoint's directory; one {@code allGather} hands every rank's file entries to rank 0, which commits the
 * manifest (data position, iteration counts, seed, split) and deletes checkpoints beyond the newest
 * {@code keep}. A rank that dies before the gather leaves the checkpoint without a manifest: it never counts.
 *
 * <p>Beside its layers each rank writes its step records of the whole run so far ({@code _steps-rank-<r>.ser}):
 * a retry that resumes from the checkpoint returns them with its own, so the result holds every step once.
 */
final class Checkpointer {
    private static final Logger LOG = LoggerFactory.getLogger(Checkpointer.class);

    private final JobSpec spec;
    private final JobStore.Checkpointing settings;
    private final Configuration hadoop;
    private final BarrierTaskContext ctx;
    private final BarrierSync barrier;
    private final int rank;
    private final int attempt;

    Checkpointer(JobSpec spec, Configuration hadoop, BarrierTaskContext ctx, BarrierSync barrier, int rank, int attempt) {
        this.spec = spec;
        this.settings = spec.store().checkpoints();
        this.hadoop = hadoop;
        this.ctx = ctx;
        this.barrier = barrier;
        this.rank = rank;
        this.attempt = attempt;
    }

    boolean on() {
        return settings.on();
    }

    /**
     * Writes and (rank 0) commits the checkpoint of position {@code at}; every rank must call it at the same step.
     *
     * @param history this rank's step records of the run up to {@code at}
     */
    void write(StageRunner runner, JobStore.Position at, List<RankStep> history) {
        URI dir = CheckpointDir.stepDir(settings.dir(), at.iteration());
        long t0 = System.nanoTime();
        List<LayerEntry> mine;
        try {
            FileSystem fs = FileSystem.get(dir, hadoop);
            // Replicas hold the same layers: replica 0 writes them, every rank its own step records.
            mine = spec.topology().replica(rank) == 0
                    ? runner.writeLayers(fs, new Path(dir), spec.store().fileTag()) : List.of();
            try (java.io.OutputStream out = fs.create(historyFile(dir, rank), true)) {
                out.write(JavaBytes.of(new ArrayList<>(history)));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("rank " + rank + " cannot write its layers of the checkpoint " + dir + ": "
                    + e.getMessage(), e);
        }
        spec.store().fault().maybeThrow("checkpoint", attempt, rank, at.iteration());
        if (spec.store().fault().due("stall", attempt, rank, at.iteration())) {
            stall();
        }
        String[] all = barrier.allGather("checkpoint after step " + at.iteration(), encode(mine));
        if (rank != 0) {
            return;
        }
        List<LayerEntry> entries = new ArrayList<>();
        for (String s : all) {
            entries.addAll(decode(s));
        }
        StoreManifest m = new StoreManifest(StoreManifest.FORMAT_VERSION, spec.modelJson(), entries,
                at.iteration(), at.epoch(), at.stepInEpoch(), spec.seed(), spec.boundaries(), spec.jobId(),
                System.currentTimeMillis(), at.skippedSteps());
        try {
            ModelStore.commit(dir, hadoop, m);
            CheckpointDir.prune(settings.dir(), hadoop, settings.keep());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot commit the checkpoint " + dir + ": " + e.getMessage(), e);
        }
        LOG.info("job {}: checkpoint after step {} (epoch {}, step {} in it) committed at {} in {} ms", spec.jobId(),
                at.iteration(), at.epoch(), at.stepInEpoch(), dir, (System.nanoTime() - t0) / 1_000_000);
    }

    /**
     * Rank 0's choice of where a retried attempt resumes: the newest complete checkpoint this job wrote, or
     * "" (first attempt, checkpoints off, or none yet).
     */
    String recoveryPoint() {
        if (rank != 0 || attempt == 0 || !on()) {
            return "";
        }
        try {
            ModelStore newest = CheckpointDir.newest(settings.dir(), hadoop, spec.jobId());
            return newest == null ? "" : newest.uri().toString();
        } catch (IOException e) {
            LOG.warn("job {}: cannot list checkpoints in {}, restarting from the start: {}", spec.jobId(),
                    settings.dir(), e.toString());
            return "";
        }
    }

    /** The injected silent peer: never arrives at the barrier, waits until Spark kills the task (at most 10 min). */
    private void stall() {
        LOG.warn("job {} rank {}: injected stall (spark.mp.test.fault), not arriving at the checkpoint's barrier",
                spec.jobId(), rank);
        long end = System.nanoTime() + 600_000_000_000L;
        while (System.nanoTime() < end) {
            ctx.killTaskIfInterrupted();
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                ctx.killTaskIfInterrupted();
                throw new IllegalStateException("rank " + rank + " interrupted while stalled", e);
            }
        }
        throw new IllegalStateException("rank " + rank + ": the injected stall was never ended by Spark");
    }

    /**
     * Rank {@code r}'s step records of the run up to the checkpoint {@code dir}, or an empty list when the
     * checkpoint holds none for it (written by a version without them).
     */
    static List<RankStep> readHistory(URI dir, Configuration hadoop, int r) {
        Path p = historyFile(dir, r);
        try {
            FileSystem fs = FileSystem.get(dir, hadoop);
            if (!fs.exists(p)) {
                return List.of();
            }
            try (java.io.InputStream in = fs.open(p)) {
                List<?> raw = JavaBytes.read(in.readAllBytes(), ArrayList.class);
                List<RankStep> out = new ArrayList<>();
                for (Object o : raw) {
                    out.add((RankStep) o);
                }
                return out;
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the step records " + p + ": " + e.getMessage(), e);
        }
    }

    private static Path historyFile(URI dir, int r) {
        return new Path(new Path(dir), "_steps-rank-" + r + ".ser");
    }

    static String encode(List<LayerEntry> entries) {
        StringBuilder sb = new StringBuilder();
        for (LayerEntry e : entries) {
            if (sb.length() > 0) {
                sb.append(';');
            }
            sb.append(e.layer()).append(',').append(e.file()).append(',').append(e.dataType()).append(',')
                    .append(e.paramCount()).append(',').append(e.stateCount()).append(',').append(e.bytes()).append(',')
                    .append(e.checksum());
        }
        return sb.toString();
    }

    static List<LayerEntry> decode(String s) {
        List<LayerEntry> out = new ArrayList<>();
        if (s.isEmpty()) {
            return out;
        }
        for (String e : s.split(";")) {
            String[] f = e.split(",");
            out.add(new LayerEntry(Integer.parseInt(f[0]), f[1], f[2], Long.parseLong(f[3]), Long.parseLong(f[4]),
                    Long.parseLong(f[5]), f[6]));
        }
        return out;
    }
}
