package io.sparkmp.spark;

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
import java.util.Comparator;
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
    private final long startIteration;
    private final int startEpoch;
    private final String tag;

    private FitStores(Configuration hadoop, URI output, boolean scratchOutput, URI initFrom, boolean scratchInit,
                      long startIteration, int startEpoch, String tag) {
        this.hadoop = hadoop;
        this.output = output;
        this.scratchOutput = scratchOutput;
        this.initFrom = initFrom;
        this.scratchInit = scratchInit;
        this.startIteration = startIteration;
        this.startEpoch = startEpoch;
        this.tag = tag;
    }

    /**
     * Checks and prepares the stores of a fit, before anything trains.
     *
     * @param outputOrEmpty {@code spark.mp.output}
     * @param initFromOrEmpty {@code spark.mp.initFrom}: a store or a {@code .zip}
     * @param initialNetworkOrNull the builder's {@code initialParameters}
     * @throws IllegalArgumentException for an output that is not writable or not empty without overwrite, a
     *     start that is not a complete store or zip of this model, or both a start and an initial network
     */
    static FitStores prepare(Configuration hadoop, MultiLayerConfiguration conf, String jobId, String outputOrEmpty,
                             boolean overwrite, String scratchDirOrEmpty, String initFromOrEmpty,
                             MultiLayerNetwork initialNetworkOrNull, long seed) {
        if (!initFromOrEmpty.isEmpty() && initialNetworkOrNull != null) {
            throw new IllegalArgumentException("give initFrom (" + initFromOrEmpty + ") or initialParameters, not both");
        }
        String tag = jobId.replace("-", "").substring(0, 12);
        URI scratch = scratchDirOrEmpty.isEmpty()
                ? qualify(hadoop, "/tmp/spark-mp-" + System.getProperty("user.name", "user"), "spark.mp.scratchDir")
                : qualify(hadoop, scratchDirOrEmpty, "spark.mp.scratchDir");
        boolean scratchOutput = outputOrEmpty.isEmpty();
        URI output = scratchOutput ? child(scratch, jobId + "-model") : qualify(hadoop, outputOrEmpty, "output");
        URI init = null;
        boolean scratchInit = false;
        long iteration = 0;
        int epoch = 0;
        FitStores made = null;
        try {
            prepareOutput(hadoop, output, overwrite && !scratchOutput, scratchOutput);
            MultiLayerNetwork start = initialNetworkOrNull;
            if (!initFromOrEmpty.isEmpty()) {
                URI from = qualify(hadoop, initFromOrEmpty, "initFrom");
                if (from.getPath().toLowerCase(Locale.ROOT).endsWith(".zip")) {
                    start = readZip(hadoop, from);
                } else {
                    init = from;
                }
            }
            if (start != null) {
                init = child(scratch, jobId + "-init");
                scratchInit = true;
                ModelStore.write(init, hadoop, start, seed, "init-" + tag);
            }
            if (init != null) {
                ModelStore from = openStart(hadoop, init, initFromOrEmpty.isEmpty() ? "initialParameters" : initFromOrEmpty);
                from.requireSameModel(conf);
                iteration = from.manifest().iteration();
                epoch = from.manifest().epoch();
            }
            made = new FitStores(hadoop, output, scratchOutput, init, scratchInit, iteration, epoch, tag);
            return made;
        } catch (IOException e) {
            throw new UncheckedIOException(e.getMessage(), e);
        } finally {
            if (made == null && scratchInit) {
                delete(hadoop, init);
            }
        }
    }

    /** What the tasks need: where to read and write, from which step on. */
    JobStore jobStore() {
        return JobStore.of(output, initFrom, startIteration, startEpoch, tag, hadoop);
    }

    URI output() {
        return output;
    }

    /** Whether the output is a scratch store (deleted when the driver exits). */
    boolean scratchOutput() {
        return scratchOutput;
    }

    long startIteration() {
        return startIteration;
    }

    int startEpoch() {
        return startEpoch;
    }

    /**
     * Commits the output store from the tasks' entries, after every task finished.
     *
     * @param steps optimizer steps this fit took
     * @param epochs epochs this fit completed
     */
    StoreManifest commit(MultiLayerConfiguration conf, List<TaskResult> results, long steps, int epochs, long seed,
                         int[] boundaries, String jobId) {
        List<LayerEntry> entries = new ArrayList<>();
        for (TaskResult t : results) {
            entries.addAll(t.layers());
        }
        entries.sort(Comparator.comparingInt(LayerEntry::layer));
        StoreManifest m = new StoreManifest(StoreManifest.FORMAT_VERSION, conf.toJson(), entries,
                startIteration + steps, startEpoch + epochs, 0, seed, boundaries, jobId, System.currentTimeMillis());
        try {
            ModelStore.commit(output, hadoop, m);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot commit the trained model's store at " + output + ": "
                    + e.getMessage(), e);
        }
        return m;
    }

    /** Deletes the scratch store made to start from (the output stays). */
    @Override
    public void close() {
        if (scratchInit) {
            delete(hadoop, initFrom);
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
