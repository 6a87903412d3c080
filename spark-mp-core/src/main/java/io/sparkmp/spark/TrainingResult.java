package io.sparkmp.spark;

import io.sparkmp.plan.PipelinePlan;
import io.sparkmp.plan.PlanAccuracy;
import io.sparkmp.store.ModelStore;
import io.sparkmp.store.StoreManifest;
import org.apache.hadoop.conf.Configuration;
import org.bytedeco.javacpp.Pointer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.util.Arrays;
import java.util.List;

/**
 * What {@link PipelineTrainer#fit} returns: where the trained model is (a per-layer store the tasks wrote;
 * the driver never held the model), the per-step metrics and the plan.
 *
 * <p>{@link #network()} reads the store into one DL4J network on the driver, on first call, when the
 * driver's memory can hold it. The store given by {@code output} stays; without one, the result is a scratch
 * store that is deleted when the driver JVM exits ({@link #isScratchStore()}).
 */
public final class TrainingResult {
    private final URI store;
    private final boolean scratchStore;
    private final StoreManifest manifest;
    private final Configuration hadoop;
    private final List<StepReport> metrics;
    private final long examplesPerEpoch;
    private final long droppedPerEpoch;
    private final double trainingSeconds;
    private final PipelinePlan plan;
    private final PlanAccuracy planAccuracy;
    private final List<String> failures;
    private final TimelineCapture timeline;
    private MultiLayerNetwork network;
    private org.deeplearning4j.nn.graph.ComputationGraph graph;

    TrainingResult(URI store, boolean scratchStore, StoreManifest manifest, Configuration hadoop,
                   List<StepReport> metrics, long examplesPerEpoch, long droppedPerEpoch, double trainingSeconds,
                   PipelinePlan plan, PlanAccuracy planAccuracy) {
        this(store, scratchStore, manifest, hadoop, metrics, examplesPerEpoch, droppedPerEpoch, trainingSeconds, plan,
                planAccuracy, List.of(), TimelineCapture.NONE);
    }

    private TrainingResult(URI store, boolean scratchStore, StoreManifest manifest, Configuration hadoop,
                           List<StepReport> metrics, long examplesPerEpoch, long droppedPerEpoch, double trainingSeconds,
                           PipelinePlan plan, PlanAccuracy planAccuracy, List<String> failures,
                           TimelineCapture timeline) {
        this.failures = List.copyOf(failures);
        this.store = store;
        this.scratchStore = scratchStore;
        this.manifest = manifest;
        this.hadoop = hadoop;
        this.metrics = List.copyOf(metrics);
        this.examplesPerEpoch = examplesPerEpoch;
        this.droppedPerEpoch = droppedPerEpoch;
        this.trainingSeconds = trainingSeconds;
        this.plan = plan;
        this.planAccuracy = planAccuracy;
        this.timeline = timeline;
    }

    /** The same result with its plan and the plan's accuracy. */
    TrainingResult withPlan(PipelinePlan p, PlanAccuracy accuracy) {
        return new TrainingResult(store, scratchStore, manifest, hadoop, metrics, examplesPerEpoch, droppedPerEpoch,
                trainingSeconds, p, accuracy, failures, timeline);
    }

    /** The same result with the task failures it recovered from. */
    TrainingResult withFailures(List<String> f) {
        return new TrainingResult(store, scratchStore, manifest, hadoop, metrics, examplesPerEpoch, droppedPerEpoch,
                trainingSeconds, plan, planAccuracy, f, timeline);
    }

    /**
     * The task failures this fit recovered from, one line each (rank, attempt, executor, host, the last step
     * it reported, the cause, the attempts left); empty when nothing failed. {@link #metrics()} still holds
     * every step of the run once: those before the checkpoint a retry resumed from as the earlier attempt ran
     * them ({@link StepReport#attempt()}), the later ones as the retry ran them (the failed attempt's runs of
     * those are replaced).
     */
    public List<String> recoveredFailures() {
        return failures;
    }

    /** The same result with the measured timeline of its sampled steps. */
    TrainingResult withTimeline(TimelineCapture t) {
        return new TrainingResult(store, scratchStore, manifest, hadoop, metrics, examplesPerEpoch, droppedPerEpoch,
                trainingSeconds, plan, planAccuracy, failures, t);
    }

    /**
     * The measured timeline of the sampled steps ({@link TimelineCapture#NONE} unless {@code spark.mp.timeline.path}
     * was set); {@link TimelineCapture#write} puts it beside the plan's predicted step.
     */
    public TimelineCapture timeline() {
        return timeline;
    }

    /** The per-layer store holding the trained model (parameters, updater state, iteration and epoch counts). */
    public URI store() {
        return store;
    }

    /** Whether {@link #store()} is a scratch store, deleted when the driver JVM exits (no output was given). */
    public boolean isScratchStore() {
        return scratchStore;
    }

    /** The store's manifest: layers, files, checksums, iteration and epoch counts. */
    public StoreManifest manifest() {
        return manifest;
    }

    /**
     * The trained model as one DL4J network, read from {@link #store()} on first call (parameters, updater
     * state, iteration and epoch counts, so {@code fit} can continue exactly).
     *
     * @throws IllegalStateException when the model does not fit the driver's free memory, naming both; read
     *     the store on a larger machine then ({@code io.sparkmp.store.StoreExport} makes a DL4J zip of it)
     * @throws UncheckedIOException when the store cannot be read
     */
    public synchronized MultiLayerNetwork network() {
        if (network == null) {
            ModelStore opened = openFitting();
            if (opened.holdsGraph()) {
                throw new IllegalStateException(store + " holds a ComputationGraph: read it with graph()");
            }
            try {
                network = opened.toNetwork();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read the trained model from " + store + ": " + e.getMessage(), e);
            }
        }
        return network;
    }

    /**
     * The trained ComputationGraph (of a {@code PipelineTrainer.builder(ComputationGraphConfiguration)} fit), read
     * from {@link #store()} on first call: parameters, updater state, iteration and epoch counts.
     *
     * @throws IllegalStateException when the store holds a MultiLayerNetwork, or the graph does not fit the driver's
     *     free memory (as {@link #network()})
     * @throws UncheckedIOException when the store cannot be read
     */
    public synchronized org.deeplearning4j.nn.graph.ComputationGraph graph() {
        if (graph == null) {
            ModelStore opened = openFitting();
            if (!opened.holdsGraph()) {
                throw new IllegalStateException(store + " holds a MultiLayerNetwork: read it with network()");
            }
            try {
                graph = opened.toGraph();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read the trained graph from " + store + ": " + e.getMessage(), e);
            }
        }
        return graph;
    }

    /** The store, once the model is known to fit the driver's free memory. */
    private ModelStore openFitting() {
        long need = modelBytes();
        long free = freeOffHeapBytes();
        if (need > free) {
            throw new IllegalStateException("the trained model holds " + mib(need) + " MiB of parameters and "
                    + "updater state, more than the driver's free off-heap memory (" + mib(free) + " MiB; heap "
                    + mib(Runtime.getRuntime().maxMemory() - usedHeap()) + " MiB free): it stays in " + store
                    + "; turn it into a DL4J zip on a machine large enough with io.sparkmp.store.StoreExport, "
                    + "or start the next fit from it with initFrom");
        }
        try {
            return ModelStore.open(store, hadoop);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the trained model from " + store + ": " + e.getMessage(), e);
        }
    }

    /** Bytes of the store's layer files: about what {@link #network()} allocates. */
    public long modelBytes() {
        return manifest.layerBytes();
    }

    /**
     * One record per optimizer step of this run, in step order, including the steps before a checkpoint a
     * retried attempt resumed from (marked with the attempt that ran them).
     */
    public List<StepReport> metrics() {
        return metrics;
    }

    /**
     * The steps whose update every stage left out because a gradient was not finite
     * ({@code spark.mp.nonFinite=skip}), ascending; empty with the default {@code fail}.
     */
    public List<Long> skippedSteps() {
        return metrics.stream().filter(StepReport::skipped).map(StepReport::step).toList();
    }

    /** Examples stage 0 read in one epoch. */
    public long examplesPerEpoch() {
        return examplesPerEpoch;
    }

    /** Examples of the partial last mini-batch, not trained on. */
    public long droppedPerEpoch() {
        return droppedPerEpoch;
    }

    /** Wall time of the barrier job (data routing included). */
    public double trainingSeconds() {
        return trainingSeconds;
    }

    /** The plan the run followed (null when made without one). */
    public PipelinePlan plan() {
        return plan;
    }

    /** The plan's predicted step time next to the measured {@link #medianStepSeconds()}; null without a plan or steps. */
    public PlanAccuracy planAccuracy() {
        return planAccuracy;
    }

    /**
     * Per pipeline device, the plan's memory estimate next to the peak resident bytes its process reached over
     * the first steps and the resident bytes when its task started; empty without a plan or memory samples.
     */
    public List<StageMemoryUse> stageMemory() {
        return StageMemoryUse.of(plan, metrics);
    }

    /** Trained examples per second over the whole job (data routing and start-up included). */
    public double samplesPerSecond() {
        long trained = 0;
        for (StepReport r : metrics) {
            trained += r.examples();
        }
        return trainingSeconds > 0 ? trained / trainingSeconds : Double.NaN;
    }

    /**
     * Median wall time of one optimizer step (the slowest rank's), leaving out the first step when there are
     * more (it pays warm-up: JIT, first allocations, connection set-up); NaN without steps.
     */
    public double medianStepSeconds() {
        if (metrics.isEmpty()) {
            return Double.NaN;
        }
        double[] t = metrics.stream().skip(metrics.size() > 1 ? 1 : 0).mapToDouble(StepReport::stepSeconds).toArray();
        Arrays.sort(t);
        return t.length % 2 == 1 ? t[t.length / 2] : (t[t.length / 2 - 1] + t[t.length / 2]) / 2;
    }

    @Override
    public String toString() {
        return "TrainingResult[store " + store + (scratchStore ? " (scratch)" : "") + ", " + metrics.size()
                + " steps, iteration " + manifest.iteration() + ", " + mib(modelBytes()) + " MiB]";
    }

    /**
     * Off-heap bytes this JVM may still allocate: javacpp's limit on its own allocations less what it holds,
     * and, when a cap on the whole process is set ({@code maxphysicalbytes}), that cap less the resident bytes.
     */
    static long freeOffHeapBytes() {
        long free = Pointer.maxBytes() > 0 ? Pointer.maxBytes() - Pointer.totalBytes() : Long.MAX_VALUE;
        if (Pointer.maxPhysicalBytes() > 0) {
            free = Math.min(free, Pointer.maxPhysicalBytes() - Pointer.physicalBytes());
        }
        return Math.max(0, free);
    }

    private static long usedHeap() {
        Runtime rt = Runtime.getRuntime();
        return rt.totalMemory() - rt.freeMemory();
    }

    private static long mib(long bytes) {
        return bytes >> 20;
    }
}
