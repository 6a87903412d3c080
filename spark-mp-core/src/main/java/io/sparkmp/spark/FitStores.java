package io.sparkmp.spark;

import io.sparkmp.store.CheckpointDir;
import io.sparkmp.store.LayerEntry;
import io.sparkmp.store.ModelStore;
import io.sparkmp.store.StoreManifest;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The driver's side of the per-layer store for one fit. Before launch: the output store is prepared (proved
 * writable, a non-empty one refused unless overwriting) and the model to start from is checked (a store: the
 * same model, complete; a DL4J zip or a network given to the builder: split once per layer into a scratch
 * store, so no rank receives more than its own layers). After training: the tasks' layer entries become the
 * output's manifest, committed last.
 *
 * <p>Without an output, the result goes to a scratch store under {@code spark.mp.scratchDir}, deleted when
 * the driver JVM exits; the scratch store made from a zip or network is deleted when the fit ends.
 */
final class FitStores implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(FitStores.class);

    private final Configuration hadoop;
    private final URI output;
    private final boolean scratchOutput;
    private final URI initFrom;
    private final boolean scratchInit;
    private final JobStore.Position start;
    private final int endEpoch;
    private final JobStore.Checkpointing checkpoints;
    private final JobStore.Fault fault;
    private final String tag;
    private final boolean createdOutput;
    private boolean committed;

    private FitStores(Configuration hadoop, URI output, boolean scratchOutput, URI initFrom, boolean scratchInit,
                      JobStore.Position start, int endEpoch, JobStore.Checkpointing checkpoints, JobStore.Fault fault,
                      String tag, boolean createdOutput) {
        this.createdOutput = createdOutput;
        this.hadoop = hadoop;
        this.output = output;
        this.scratchOutput = scratchOutput;
        this.initFrom = initFrom;
        this.scratchInit = scratchInit;
        this.start = start;
        this.endEpoch = endEpoch;
        this.checkpoints = checkpoints;
        this.fault = fault;
        this.tag = tag;
    }

    /**
     * The store settings of one fit ({@code spark.mp.*} or the builder).
     *
     * @param epochs epochs to train: more epochs after an initFrom start, the total when resuming
     */
    record Settings(String output, boolean overwrite, String scratchDir, String initFrom, String resumeFrom,
                    String checkpointDir, int checkpointEvery, int checkpointKeep, String fault, int epochs) {
    }

    /**
     * Checks and prepares the stores of a fit, before anything trains.
     *
     * @param conf the model, or null for a ComputationGraph job (which starts from no store or network)
     * @param initialNetworkOrNull the builder's {@code initialParameters}
     * @throws IllegalArgumentException for an output that is not writable or not empty without overwrite, a
     *     start that is not a complete store or zip of this model, a resume point past the last epoch, a
     *     checkpoint directory that is not writable, or more than one of initFrom, resumeFrom and an initial
     *     network
     */
    static FitStores prepare(Configuration hadoop, MultiLayerConfiguration conf, String jobId, Settings st,
                             MultiLayerNetwork initialNetworkOrNull, long seed) {
        int starts = (st.initFrom().isEmpty() ? 0 : 1) + (st.resumeFrom().isEmpty() ? 0 : 1)
                + (initialNetworkOrNull == null ? 0 : 1);
        if (starts > 1) {
            throw new IllegalArgumentException("give one of initFrom, resumeFrom and initialParameters, found "
                    + (st.initFrom().isEmpty() ? "" : "initFrom " + st.initFrom() + " ")
                    + (st.resumeFrom().isEmpty() ? "" : "resumeFrom " + st.resumeFrom() + " ")
                    + (initialNetworkOrNull == null ? "" : "initialParameters"));
        }
        JobStore.Fault fault = JobStore.Fault.parse(st.fault());
        String tag = jobId.replace("-", "").substring(0, 12);
        URI scratch = st.scratchDir().isEmpty()
                ? qualify(hadoop, "/tmp/spark-mp-" + System.getProperty("user.name", "user"), "spark.mp.scratchDir")
                : qualify(hadoop, st.scratchDir(), "spark.mp.scratchDir");
        boolean scratchOutput = st.output().isEmpty();
        URI output = scratchOutput ? child(scratch, jobId + "-model") : qualify(hadoop, st.output(), "output");
        JobStore.Checkpointing checkpoints = JobStore.Checkpointing.OFF;
        URI init = null;
        boolean scratchInit = false;
        JobStore.Position start = JobStore.Position.ZERO;
        int endEpoch = st.epochs();
        FitStores made = null;
        boolean createdOutput = false;
        try {
            createdOutput = !FileSystem.get(output, hadoop).exists(new Path(output));
            prepareOutput(hadoop, output, st.overwrite() && !scratchOutput, scratchOutput);
            if (!st.checkpointDir().isEmpty()) {
                URI dir = qualify(hadoop, st.checkpointDir(), "checkpoint.dir");
                prepareCheckpointDir(hadoop, dir);
                checkpoints = new JobStore.Checkpointing(dir.toString(), st.checkpointEvery(), st.checkpointKeep());
            }
            MultiLayerNetwork startNet = initialNetworkOrNull;
            if (!st.initFrom().isEmpty()) {
                URI from = qualify(hadoop, st.initFrom(), "initFrom");
                if (from.getPath().toLowerCase(Locale.ROOT).endsWith(".zip")) {
                    startNet = readZip(hadoop, from);
                } else {
                    init = from;
                }
            }
            if (startNet != null) {
                init = child(scratch, jobId + "-init");
                scratchInit = true;
                ModelStore.write(init, hadoop, startNet, seed, "init-" + tag);
            }
            if (init != null) {
                ModelStore from = openStart(hadoop, init, st.initFrom().isEmpty() ? "initialParameters" : st.initFrom());
                from.requireSameModel(conf);
                start = new JobStore.Position(from.manifest().iteration(), from.manifest().epoch(), 0,
                        from.manifest().skippedSteps());
                endEpoch = start.epoch() + st.epochs();
            }
            if (!st.resumeFrom().isEmpty()) {
                ModelStore from = openResume(hadoop, qualify(hadoop, st.resumeFrom(), "resumeFrom"), st.resumeFrom());
                from.requireSameModel(conf);
                init = from.uri();
                start = JobStore.Position.of(from.manifest());
                if (start.epoch() >= st.epochs()) {
                    throw new IllegalArgumentException("resumeFrom " + st.resumeFrom() + " has already trained "
                            + start.epoch() + " epochs (" + start.iteration() + " steps); epochs (" + st.epochs()
                            + ") is the total when resuming");
                }
            }
            made = new FitStores(hadoop, output, scratchOutput, init, scratchInit, start, endEpoch, checkpoints, fault,
                    tag, createdOutput);
            return made;
        } catch (IOException e) {
            throw new UncheckedIOException(e.getMessage(), e);
        } finally {
            if (made == null) {
                if (scratchInit) {
                    delete(hadoop, init);
                }
                if (createdOutput) {
                    removeUncommitted(hadoop, output, tag, true);
                }
            }
        }
    }

    /** What the tasks need: where to read and write, from which step on. */
    JobStore jobStore() {
        return JobStore.of(output, initFrom, start, endEpoch, checkpoints, fault, tag, hadoop);
    }

    URI output() {
        return output;
    }

    /** Whether the output is a scratch store (deleted when the driver exits). */
    boolean scratchOutput() {
        return scratchOutput;
    }

    JobStore.Position start() {
        return start;
    }

    /** Commits the output store from the tasks' entries, after every task finished. */
    StoreManifest commit(String modelJson, List<TaskResult> results, long seed, int[] boundaries,
                         String jobId) {
        List<LayerEntry> entries = new ArrayList<>();
        long iteration = start.iteration();
        long skipped = start.skippedSteps();
        for (TaskResult t : results) {
            entries.addAll(t.layers());
            iteration = Math.max(iteration, t.iteration());
            skipped = Math.max(skipped, t.skippedSteps()); // every rank counts the same skipped steps
        }
        StoreManifest m = new StoreManifest(StoreManifest.FORMAT_VERSION, modelJson, entries, iteration, endEpoch,
                0, seed, boundaries, jobId, System.currentTimeMillis(), skipped);
        try {
            ModelStore.commit(output, hadoop, m);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot commit the trained model's store at " + output + ": "
                    + e.getMessage(), e);
        }
        committed = true;
        return m;
    }

    /**
     * Deletes the scratch store made to start from; when the fit did not commit, also the layer files this job
     * wrote to the output (an older store there stays as it was) and the output directory if this fit made it.
     */
    @Override
    public void close() {
        if (scratchInit) {
            delete(hadoop, initFrom);
        }
        if (!committed) {
            removeUncommitted(hadoop, output, tag, createdOutput);
        }
    }

    /** Removes this job's layer files (named with its tag) from an uncommitted output, then the folder if made here. */
    private static void removeUncommitted(Configuration hadoop, URI output, String tag, boolean createdHere) {
        try {
            FileSystem fs = FileSystem.get(output, hadoop);
            Path dir = new Path(output);
            if (!fs.exists(dir)) {
                return;
            }
            for (org.apache.hadoop.fs.FileStatus st : fs.listStatus(dir)) {
                if (st.getPath().getName().contains("-" + tag)) {
                    fs.delete(st.getPath(), false);
                }
            }
            if (createdHere && fs.listStatus(dir).length == 0) {
                fs.delete(dir, false);
            }
        } catch (IOException e) {
            LOG.warn("spark-mp: could not clean up the uncommitted output {}: {}", output, e.toString());
        }
    }

    private static void prepareOutput(Configuration hadoop, URI output, boolean overwrite, boolean scratch)
            throws IOException {
        try {
            ModelStore.prepareOutput(output, hadoop, overwrite);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException((scratch ? "spark.mp.scratchDir: " : "output: ") + e.getMessage(), e);
        }
        if (scratch) {
            FileSystem.get(output, hadoop).deleteOnExit(new Path(output));
        }
    }

    private static void prepareCheckpointDir(Configuration hadoop, URI dir) throws IOException {
        FileSystem fs = FileSystem.get(dir, hadoop);
        Path p = new Path(dir);
        Path probe = new Path(p, "_spark-mp-probe-" + java.util.UUID.randomUUID());
        try {
            fs.mkdirs(p);
            fs.create(probe, false).close();
            fs.delete(probe, false);
        } catch (IOException e) {
            throw new IllegalArgumentException("checkpoint.dir " + dir + " is not writable: " + e.getMessage(), e);
        }
    }

    /** A store, or the newest complete checkpoint of a checkpoint directory. */
    private static ModelStore openResume(Configuration hadoop, URI uri, String given) throws IOException {
        if (CheckpointDir.isCheckpointDir(uri, hadoop)) {
            ModelStore newest = CheckpointDir.newest(uri, hadoop, null);
            if (newest == null) {
                throw new IllegalArgumentException("resumeFrom " + given + " holds no complete checkpoint");
            }
            LOG.info("spark-mp: resuming from the checkpoint {} (after step {})", newest.uri(),
                    newest.manifest().iteration());
            return newest;
        }
        try {
            return ModelStore.open(uri, hadoop);
        } catch (IllegalArgumentException | IOException e) {
            throw new IllegalArgumentException("resumeFrom " + given + ": " + e.getMessage(), e);
        }
    }

    private static ModelStore openStart(Configuration hadoop, URI uri, String given) throws IOException {
        try {
            return ModelStore.open(uri, hadoop);
        } catch (IllegalArgumentException | IOException e) {
            throw new IllegalArgumentException("initFrom " + given + ": " + e.getMessage(), e);
        }
    }

    private static MultiLayerNetwork readZip(Configuration hadoop, URI zip) throws IOException {
        FileSystem fs = FileSystem.get(zip, hadoop);
        Path p = new Path(zip);
        if (!fs.exists(p)) {
            throw new IllegalArgumentException("initFrom " + zip + " does not exist");
        }
        try (InputStream in = fs.open(p)) {
            return ModelSerializer.restoreMultiLayerNetwork(in, true);
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("initFrom " + zip + " is not a DL4J MultiLayerNetwork zip: "
                    + e.getMessage(), e);
        }
    }

    /** A URI with a scheme: given as is, or a path qualified on the default file system. */
    static URI qualify(Configuration hadoop, String uriOrPath, String what) {
        try {
            URI u = new URI(uriOrPath);
            if (u.getScheme() != null) {
                return u;
            }
            return FileSystem.get(hadoop).makeQualified(new Path(uriOrPath)).toUri();
        } catch (java.net.URISyntaxException | IllegalArgumentException e) {
            throw new IllegalArgumentException(what + " `" + uriOrPath + "` is not a URI or path: " + e.getMessage(), e);
        } catch (IOException e) {
            throw new UncheckedIOException(what + " `" + uriOrPath + "`: " + e.getMessage(), e);
        }
    }

    private static URI child(URI dir, String name) {
        return new Path(new Path(dir), name).toUri();
    }

    private static void delete(Configuration hadoop, URI uri) {
        try {
            FileSystem.get(uri, hadoop).delete(new Path(uri), true);
        } catch (IOException e) {
            LOG.warn("spark-mp: could not delete the scratch store {}: {}", uri, e.toString());
        }
    }
}
