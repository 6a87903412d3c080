package io.sparkmp.runtime;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import io.sparkmp.model.ModelAssembler;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

/**
 * Runs a whole pipeline in one JVM: one thread per rank, each with its {@link StageWorker}, connected by
 * {@link InProcessChannel}s. Used by tests, the local demo and as the reference for the distributed run,
 * which executes the same worker code over sockets. With data-parallel replicas ({@link PipelineSpec#replicas()})
 * it runs P x R ranks ({@link Topology}); stage 0 of replica r gets examples [r B / R, (r + 1) B / R) of every
 * mini-batch, and the result holds replica 0's layers after checking that every replica holds the same bits.
 *
 * <p>When a rank fails, the channels are closed so the other ranks stop at their next receive, and
 * {@link #fit} throws the first failure (later ones, caused by the closing, are attached as suppressed).
 */
@io.sparkmp.Internal
public final class InProcessPipeline {

    /** Default longest wait of one receive. */
    public static final Duration DEFAULT_RECEIVE_TIMEOUT = Duration.ofSeconds(60);

    private final PipelineSpec spec;
    private final Map<Integer, INDArray> initialParams;
    private final Duration receiveTimeout;
    private final TimelineSampling timelineOrNull;

    /** A pipeline starting from the deterministic initialisation of {@code spec.seed()}. */
    public InProcessPipeline(PipelineSpec spec) {
        this(spec, null, DEFAULT_RECEIVE_TIMEOUT);
    }

    /**
     * @param initialParamsOrNull per-layer starting parameters (e.g. {@code ModelAssembler.split} of a saved
     *     model), or null for the deterministic initialisation
     * @param receiveTimeout longest wait of one receive before the run fails
     */
    public InProcessPipeline(PipelineSpec spec, Map<Integer, INDArray> initialParamsOrNull, Duration receiveTimeout) {
        this(spec, initialParamsOrNull, receiveTimeout, null);
    }

    /**
     * As {@link #InProcessPipeline(PipelineSpec, Map, Duration)}, recording every rank's actions of the steps
     * {@code timelineOrNull} samples ({@link Result#timelines()}).
     */
    public InProcessPipeline(PipelineSpec spec, Map<Integer, INDArray> initialParamsOrNull, Duration receiveTimeout,
                             TimelineSampling timelineOrNull) {
        if (spec == null) {
            throw new IllegalArgumentException("spec must not be null");
        }
        if (receiveTimeout == null || receiveTimeout.isNegative() || receiveTimeout.isZero()) {
            throw new IllegalArgumentException("receiveTimeout must be positive, found " + receiveTimeout);
        }
        this.spec = spec;
        this.initialParams = initialParamsOrNull == null ? null : Map.copyOf(initialParamsOrNull);
        this.receiveTimeout = receiveTimeout;
        this.timelineOrNull = timelineOrNull;
    }

    /**
     * What a run produced.
     *
     * @param spec the pipeline that ran
     * @param metrics every rank's metrics, ordered by step, then rank
     * @param parameters final parameters per layer
     * @param updaterState final updater state per layer (empty for a stateless updater)
     * @param steps optimizer steps run
     * @param epochs epochs run
     * @param timelines each rank's recorded timeline, by rank; empty without timeline sampling
     */
    public record Result(PipelineSpec spec, List<StepMetrics> metrics, Map<Integer, INDArray> parameters,
                         Map<Integer, INDArray> updaterState, int steps, int epochs, List<RankTimeline> timelines) {

        /** Per-step loss (DL4J's score of each mini-batch), in step order. */
        public List<Double> losses() {
            List<Double> out = new ArrayList<>();
            for (StepMetrics m : metrics) {
                if (m.hasLoss()) {
                    out.add(m.loss());
                }
            }
            return out;
        }

        /**
         * The trained model as a DL4J network: parameters, updater state and iteration/epoch counts, so
         * that {@code fit} continues exactly where the pipeline stopped.
         */
        public MultiLayerNetwork toNetwork() {
            MultiLayerNetwork net = ModelAssembler.assemble(spec.configuration(), parameters,
                    updaterState.isEmpty() ? null : updaterState);
            net.setIterationCount(steps);
            net.setEpochCount(epochs);
            return net;
        }
    }

    /**
     * Trains for {@code epochs} passes over {@code miniBatches}, one optimizer step per mini-batch.
     *
     * @throws IllegalArgumentException before any work if a mini-batch size is not a multiple of
     *     {@code spec.microBatches()}
     * @throws StageExecutionException (or the first other failure) if a rank fails
     */
    public Result fit(List<DataSet> miniBatches, int epochs) {
        if (miniBatches == null || miniBatches.isEmpty()) {
            throw new IllegalArgumentException("miniBatches must not be empty");
        }
        if (epochs <= 0) {
            throw new IllegalArgumentException("epochs must be positive, found " + epochs);
        }
        Topology topology = spec.topology();
        int replicas = topology.replicas();
        for (int i = 0; i < miniBatches.size(); i++) {
            int n = miniBatches.get(i).numExamples();
            if (replicas == 1 && n % spec.microBatches() != 0) {
                throw new IllegalArgumentException("microBatches (" + spec.microBatches() + ") must divide the size (" + n
                        + ") of mini-batch " + i);
            }
            if (replicas > 1 && n % ((long) replicas * spec.microBatches()) != 0) {
                throw new IllegalArgumentException("replicas x microBatches (" + replicas + " x " + spec.microBatches()
                        + ") must divide the size (" + n + ") of mini-batch " + i);
            }
        }
        int p = topology.ranks();
        List<InProcessChannel> channels = InProcessChannel.connect(p, receiveTimeout);
        List<List<StepMetrics>> metrics = new ArrayList<>();
        List<Map<Integer, INDArray>> params = new ArrayList<>();
        List<Map<Integer, INDArray>> state = new ArrayList<>();
        List<RankTimeline> timelines = new ArrayList<>();
        for (int r = 0; r < p; r++) {
            metrics.add(new ArrayList<>());
            params.add(null);
            state.add(null);
            timelines.add(null);
        }
        RankThreads.run("sparkmp-rank-", p, rank -> {
            ActionRecorder recorder = timelineOrNull == null ? null : timelineOrNull.recorder(rank);
            StageWorker w = new StageWorker(spec, rank, channels.get(rank), initialParams, recorder, NonFinitePolicy.FAIL,
                    receiveTimeout);
            long step = 0;
            boolean reads = topology.readsData(rank);
            int replica = topology.replica(rank);
            for (int e = 0; e < epochs; e++) {
                for (DataSet ds : miniBatches) {
                    metrics.get(rank).add(w.runStep(step++, e, reads ? share(ds, replica, replicas) : null));
                }
            }
            params.set(rank, w.layerParameters());
            state.set(rank, w.updaterState());
            if (recorder != null) {
                timelines.set(rank, recorder.drainTimeline());
            }
        }, rank -> channels.get(rank).close(), () -> channels.get(0).closeAll(), "the pipeline ranks");
        List<StepMetrics> all = new ArrayList<>();
        metrics.forEach(all::addAll);
        all.sort(Comparator.comparingLong(StepMetrics::step).thenComparingInt(StepMetrics::rank));
        Map<Integer, INDArray> allParams = new TreeMap<>();
        Map<Integer, INDArray> allState = new TreeMap<>();
        for (int d = 0; d < spec.devices(); d++) {
            allParams.putAll(params.get(d));
            allState.putAll(state.get(d));
            for (int r = 1; r < replicas; r++) {
                requireSame(params.get(d), params.get(topology.rank(d, r)), "parameters", topology.rank(d, r));
                requireSame(state.get(d), state.get(topology.rank(d, r)), "updater state", topology.rank(d, r));
            }
        }
        if (replicas > 1) { // one record per device and step: replica 0's (the others measured the same step)
            all.removeIf(m -> topology.replica(m.rank()) != 0);
        }
        return new Result(spec, List.copyOf(all), Collections.unmodifiableMap(allParams), Collections.unmodifiableMap(allState),
                epochs * miniBatches.size(), epochs, timelineOrNull == null ? List.of() : List.copyOf(timelines));
    }

    /** Replica {@code replica}'s share of {@code ds}: its examples [r n / R, (r + 1) n / R); {@code ds} itself for R = 1. */
    static DataSet share(DataSet ds, int replica, int replicas) {
        if (replicas == 1) {
            return ds;
        }
        int n = ds.numExamples() / replicas;
        int from = replica * n;
        return new DataSet(MiniBatch.rows(ds.getFeatures(), from, n), MiniBatch.rows(ds.getLabels(), from, n),
                ds.getFeaturesMaskArray() == null ? null : MiniBatch.rows(ds.getFeaturesMaskArray(), from, n),
                ds.getLabelsMaskArray() == null ? null : MiniBatch.rows(ds.getLabelsMaskArray(), from, n));
    }

    /** Replicas sum the same gradients in the same order: their layers must be equal bit for bit. */
    private static void requireSame(Map<Integer, INDArray> replica0, Map<Integer, INDArray> other, String what, int rank) {
        for (Map.Entry<Integer, INDArray> e : replica0.entrySet()) {
            INDArray o = other.get(e.getKey());
            if (o == null || !o.equals(e.getValue()) || o.sub(e.getValue()).amaxNumber().doubleValue() != 0) {
                throw new IllegalStateException("the " + what + " of layer " + e.getKey() + " on rank " + rank
                        + " differ from replica 0's: the replicas diverged");
            }
        }
    }
}
