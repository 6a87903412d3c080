package io.sparkmp.spark;

import org.apache.hadoop.conf.Configuration;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.net.URI;

/**
 * Where a job's tasks read and write their layers, fixed on the driver: the output store, the store to
 * start from (if any) and the position training starts at, the epoch it ends before, checkpointing, and
 * the driver's Hadoop configuration (credentials and file system settings set in a notebook reach the
 * executors this way, as for Spark's own file reads).
 *
 * @param output the store the tasks write their layers to when training ends (committed by the driver)
 * @param initFromOrEmpty the complete store each task reads its own layers from, or "" for seeded init
 * @param start where training starts: steps taken, epoch, steps into that epoch
 * @param endEpoch training runs until this epoch is complete (exclusive upper bound of the epoch index)
 * @param checkpoints where and how often the tasks checkpoint, or {@link Checkpointing#OFF}
 * @param fault a fault to inject on the first stage attempt (tests only), or {@link Fault#NONE}
 * @param fileTag distinguishes this job's layer files from an older store's in the same directory
 * @param hadoopConf the driver's Hadoop configuration, {@link Configuration#write} form
 */
record JobStore(String output, String initFromOrEmpty, Position start, int endEpoch, Checkpointing checkpoints,
                Fault fault, String fileTag, byte[] hadoopConf) implements Serializable {

    /**
     * A point in training, as a store's manifest records it.
     *
     * @param iteration optimizer steps taken
     * @param epoch epochs completed
     * @param stepInEpoch steps taken into epoch {@code epoch}
     * @param skippedSteps of the {@code iteration} steps, those whose update was left out (non-finite gradient)
     */
    record Position(long iteration, int epoch, long stepInEpoch, long skippedSteps) implements Serializable {
        static final Position ZERO = new Position(0, 0, 0);

        /** A position of a run that skipped no step. */
        Position(long iteration, int epoch, long stepInEpoch) {
            this(iteration, epoch, stepInEpoch, 0);
        }

        static Position of(io.sparkmp.store.StoreManifest m) {
            return new Position(m.iteration(), m.epoch(), m.stepInEpoch(), m.skippedSteps());
        }
    }

    /**
     * Checkpointing of one job.
     *
     * @param dirOrEmpty the checkpoint directory, "" when off
     * @param every a checkpoint after every this many optimizer steps (0: only the final one)
     * @param keep the newest this many complete checkpoints are kept
     */
    record Checkpointing(String dirOrEmpty, int every, int keep) implements Serializable {
        static final Checkpointing OFF = new Checkpointing("", 0, 1);

        boolean on() {
            return !dirOrEmpty.isEmpty();
        }

        URI dir() {
            return URI.create(dirOrEmpty);
        }

        /** Whether a checkpoint follows step number {@code iteration} (the steps taken so far). */
        boolean after(long iteration) {
            return on() && every > 0 && iteration % every == 0;
        }
    }

    /**
     * A fault injected on the first attempt of the barrier stage, for tests of recovery
     * ({@code spark.mp.test.fault}): {@code fail:<rank>:<step>} throws after that rank's step, and
     * {@code checkpoint:<rank>:<step>} throws after that rank wrote its layers of the checkpoint at that step,
     * before the checkpoint is committed, and {@code stall:<rank>:<step>} makes that rank, having written its
     * layers of that step's checkpoint, never arrive at the checkpoint's barrier call (a silent peer; it waits
     * until Spark kills its task).
     */
    record Fault(String kind, int rank, long step) implements Serializable {
        static final Fault NONE = new Fault("", -1, -1);

        static Fault parse(String text) {
            if (text.isEmpty()) {
                return NONE;
            }
            String[] f = text.split(":");
            if (f.length != 3 || !(f[0].equals("fail") || f[0].equals("checkpoint") || f[0].equals("stall"))) {
                throw new IllegalArgumentException("spark.mp.test.fault must be fail:<rank>:<step>, "
                        + "checkpoint:<rank>:<step> or stall:<rank>:<step>, found `" + text + "`");
            }
            return new Fault(f[0], Integer.parseInt(f[1]), Long.parseLong(f[2]));
        }

        /** Whether this fault is {@code where} and due at rank {@code r}, after step count {@code iteration}, on attempt 0. */
        boolean due(String where, int attempt, int r, long iteration) {
            return kind.equals(where) && attempt == 0 && r == rank && iteration == step;
        }

        /** Throws when this fault is due at rank {@code r}, after step count {@code iteration}, on attempt 0. */
        void maybeThrow(String where, int attempt, int r, long iteration) {
            if (kind.equals(where) && attempt == 0 && r == rank && iteration == step) {
                throw new IllegalStateException("injected fault (spark.mp.test.fault=" + kind + ":" + rank + ":" + step
                        + ") at rank " + r + " after step " + iteration);
            }
        }
    }

    JobStore {
        hadoopConf = hadoopConf.clone();
    }

    static JobStore of(URI output, URI initFromOrNull, Position start, int endEpoch, Checkpointing checkpoints,
                       Fault fault, String fileTag, Configuration hadoop) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            hadoop.write(out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return new JobStore(output.toString(), initFromOrNull == null ? "" : initFromOrNull.toString(), start, endEpoch,
                checkpoints, fault, fileTag, bytes.toByteArray());
    }

    URI outputUri() {
        return URI.create(output);
    }

    /** The store to start from, or null. */
    URI initFromUri() {
        return initFromOrEmpty.isEmpty() ? null : URI.create(initFromOrEmpty);
    }

    /** A fresh copy of the driver's Hadoop configuration (executor side). */
    Configuration hadoop() {
        Configuration c = new Configuration(false);
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(hadoopConf))) {
            c.readFields(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return c;
    }

    @Override
    public byte[] hadoopConf() {
        return hadoopConf.clone();
    }
}
