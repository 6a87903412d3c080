package io.sparkmp.runtime;

import java.time.Duration;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import io.sparkmp.model.ModelSlicer;
import io.sparkmp.model.StageSlice;
import io.sparkmp.schedule.Action;
import io.sparkmp.schedule.ActionType;
import io.sparkmp.schedule.Schedule;
import io.sparkmp.schedule.ScheduleGrid;
import io.sparkmp.transport.FrameType;
import io.sparkmp.transport.RingAllReduce;
import io.sparkmp.transport.TensorChannel;
import io.sparkmp.transport.TensorKey;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

/**
 * Runs the pipeline stages of one rank (one device/task): its slice of the model (several virtual
 * stages with interleaved schedules) and its list of schedule actions, one mini-batch per
 * {@link #runStep}.
 *
 * <p>Per step, the {@link MicroBatchFeed} takes the mini-batch on rank 0 and passes the step header on, and
 * the {@link LossReduction} sums every rank's L1/L2 terms along the pipeline. Then each rank runs its actions
 * through one small handler per action type, the control traffic included: LOAD (rank 0 takes a micro-batch's
 * rows), SEND_L / RECV_L (labels and masks travel to the last stage), LOSS (the step's score on the last
 * stage), ALLREDUCE (with data-parallel replicas: the stage's gradient summed across the replicas by the ring
 * all-reduce before its STEP); an unknown or unsupported type fails loudly. With an {@link ActionRecorder}, the
 * actions and waits of its sampled steps are recorded for the timeline.
 *
 * <p>Replicas ({@link PipelineSpec#topology()}): a worker is built for a job rank; its schedule, feed and loss run
 * on its replica's pipeline (a {@link ReplicaChannel} maps pipeline ranks to job ranks), its stage 0 takes its
 * replica's share of each mini-batch, and each update divides by the whole mini-batch.
 *
 * <p>Misuse: every rank must call {@link #runStep} with the same step numbers in the same order; only
 * stage 0's rank of each replica gets data (its replica's share). After a {@link StageExecutionException} the worker is in an undefined state and
 * must be discarded. Not thread-safe: one thread per worker.
 */
@io.sparkmp.Internal
public final class StageWorker {

    private final PipelineSpec spec;
    private final Schedule schedule;
    /** This worker's pipeline device in its replica (the rank its schedule, feed and loss use). */
    private final int rank;
    /** This worker's rank in the job ({@link Topology}): {@code replica * P + rank}. */
    private final int jobRank;
    private final int replica;
    private final Topology topology;
    /**
     * Sums each stage's gradient (tag: the stage) and, on the last stage's device, the step's loss (tag: the stage
     * count) across the replicas of this device; null for R = 1.
     */
    private final RingAllReduce replicaRing;
    /** Longest wait for one layer's all-reduce at an ALLREDUCE action. */
    private final Duration allReduceTimeout;
    /** This step's per-layer all-reduces (replicas only), started during the backward. */
    private LayerReductions reductions;

    /** Default longest wait for one piece of a replicas' gradient all-reduce. */
    public static final Duration DEFAULT_ALL_REDUCE_TIMEOUT = Duration.ofSeconds(60);
    private final int lastStage;
    private final Map<Integer, StageSlice> slices = new LinkedHashMap<>();
    private final List<Action> actions;
    private final StepTiming timing;
    private final StepChannel channel;
    private final MicroBatchFeed feed;
    private final LossReduction lossReduction;

    // Per-step tensors waiting for their action, by (stage, micro-batch).
    private final MicroBatchTensors forwardOutputs;
    private final MicroBatchTensors receivedActivations;
    private final MicroBatchTensors receivedGradients;
    private final MicroBatchTensors inputGradients;
    /** Activations received for a stage's forward, handed back to the channel after that micro-batch's backward. */
    private final MicroBatchTensors heldActivations;
    /** Per stage: the most micro-batches its slice held at once (inputs or stashed activations kept for backward). */
    private final int[] peakHeld;
    private long step;
    /** The step's score once the LOSS action ran (last stage's rank), else NaN. */
    private double loss;
    private boolean lossReduced;
    private NonFinitePolicy nonFinite = NonFinitePolicy.FAIL;
    /** Steps whose update every stage left out (skip policy): DL4J's iteration count is the step minus these. */
    private long skippedSteps;
    private String lastSkipReason;
    private final List<Action> deferredSteps = new java.util.ArrayList<>();

    /**
     * Builds this rank's stages from {@code spec} (only its own layers are ever created).
     *
     * @param rank this worker's rank, in [0, spec.devices())
     * @param channel links to the other ranks; its {@code localRank()} must equal {@code rank}
     * @param initialParamsOrNull per-layer parameters (global layer index to vector; entries of other ranks
     *     are ignored), or null for the deterministic initialisation from {@code spec.seed()}
     */
    public StageWorker(PipelineSpec spec, int rank, TensorChannel channel, Map<Integer, INDArray> initialParamsOrNull) {
        this(spec, rank, channel, initialParamsOrNull, null);
    }

    /**
     * As {@link #StageWorker(PipelineSpec, int, TensorChannel, Map)}, recording the actions and waits of the
     * steps {@code recorderOrNull} samples.
     *
     * @param recorderOrNull this rank's recorder (its rank must be {@code rank}), or null for no timeline
     */
    public StageWorker(PipelineSpec spec, int rank, TensorChannel channel, Map<Integer, INDArray> initialParamsOrNull,
                       ActionRecorder recorderOrNull) {
        this(spec, spec == null ? null : spec.buildSchedule(), rank, channel, initialParamsOrNull, recorderOrNull);
    }

    /**
     * As {@link #StageWorker(PipelineSpec, int, TensorChannel, Map, ActionRecorder)}, with the policy for a step
     * whose gradient is not finite. With {@link NonFinitePolicy#SKIP} no stage fuses its update into the backward
     * (with one micro-batch per step it would otherwise update each layer before the step's gradient is whole):
     * the stages then hold a gradient of their size, as DL4J's {@code fit} does.
     */
    public StageWorker(PipelineSpec spec, int rank, TensorChannel channel, Map<Integer, INDArray> initialParamsOrNull,
                       ActionRecorder recorderOrNull, NonFinitePolicy nonFinite) {
        this(spec, spec == null ? null : spec.buildSchedule(), rank, channel, initialParamsOrNull, recorderOrNull,
                nonFinite, DEFAULT_ALL_REDUCE_TIMEOUT);
    }

    /**
     * As {@link #StageWorker(PipelineSpec, int, TensorChannel, Map, ActionRecorder, NonFinitePolicy)}, for job rank
     * {@code rank} of {@link PipelineSpec#topology()} (device {@code rank % P} of replica {@code rank / P}; with one
     * replica the job rank is the pipeline rank), whose gradient all-reduce waits at most {@code allReduceTimeout}
     * for each piece from its ring neighbour.
     *
     * @param channel links to the job's ranks; its {@code localRank()} must equal {@code rank}
     */
    public StageWorker(PipelineSpec spec, int rank, TensorChannel channel, Map<Integer, INDArray> initialParamsOrNull,
                       ActionRecorder recorderOrNull, NonFinitePolicy nonFinite, Duration allReduceTimeout) {
        this(spec, spec == null ? null : spec.buildSchedule(), rank, channel, initialParamsOrNull, recorderOrNull,
                nonFinite, allReduceTimeout);
    }

    /** As the public constructor, with an explicit schedule (tests: hand-made or broken action lists). */
    StageWorker(PipelineSpec spec, Schedule schedule, int rank, TensorChannel channel, Map<Integer, INDArray> params) {
        this(spec, schedule, rank, channel, params, null);
    }

    private StageWorker(PipelineSpec spec, Schedule schedule, int rank, TensorChannel channel,
                        Map<Integer, INDArray> params, ActionRecorder recorderOrNull) {
        this(spec, schedule, rank, channel, params, recorderOrNull, NonFinitePolicy.FAIL, DEFAULT_ALL_REDUCE_TIMEOUT);
    }

    /**
     * The worker of job rank {@code rank} ({@link PipelineSpec#topology()}: device {@code rank % P} of replica
     * {@code rank / P}); with one replica the job rank is the pipeline rank and this is the constructor above.
     *
     * @param rank this worker's job rank, in [0, P * R)
     * @param channel links to the job's other ranks; its {@code localRank()} must equal {@code rank}
     */
    private StageWorker(PipelineSpec spec, Schedule schedule, int rank, TensorChannel channel,
                        Map<Integer, INDArray> params, ActionRecorder recorderOrNull, NonFinitePolicy nonFinite,
                        Duration allReduceTimeout) {
        if (spec == null || schedule == null || channel == null) {
            throw new IllegalArgumentException("spec, schedule and channel must not be null");
        }
        if (allReduceTimeout == null || allReduceTimeout.isNegative() || allReduceTimeout.isZero()) {
            throw new IllegalArgumentException("allReduceTimeout must be positive, found " + allReduceTimeout);
        }
        Topology topology = spec.topology();
        if (rank < 0 || rank >= topology.ranks()) {
            throw new IllegalArgumentException("rank " + rank + " is out of range [0, " + topology.ranks() + ")");
        }
        if (channel.localRank() != rank) {
            throw new IllegalArgumentException("channel belongs to rank " + channel.localRank() + ", not rank " + rank);
        }
        if (recorderOrNull != null && recorderOrNull.rank() != rank) {
            throw new IllegalArgumentException("recorder belongs to rank " + recorderOrNull.rank() + ", not rank " + rank);
        }
        this.topology = topology;
        this.jobRank = rank;
        this.replica = topology.replica(rank);
        this.allReduceTimeout = allReduceTimeout;
        this.replicaRing = topology.replicas() == 1 ? null
                : new RingAllReduce(channel, topology.ringOf(topology.device(rank)), allReduceTimeout.toMillis());
        rank = topology.device(rank);
        channel = topology.replicas() == 1 ? channel : new ReplicaChannel(channel, topology, replica);
        if (schedule.devices() != spec.devices() || schedule.numStages() != spec.numStages()
                || schedule.microBatches() != spec.microBatches()) {
            throw new IllegalArgumentException("schedule (" + schedule.devices() + " devices, " + schedule.numStages()
                    + " stages, " + schedule.microBatches() + " micro-batches) does not match the spec (" + spec.devices()
                    + ", " + spec.numStages() + ", " + spec.microBatches() + ")");
        }
        this.spec = spec;
        this.schedule = schedule;
        this.rank = rank;
        this.lastStage = spec.numStages() - 1;
        this.actions = schedule.actions(rank);
        this.timing = new StepTiming(recorderOrNull);
        this.channel = new StepChannel(channel, timing);
        this.feed = new MicroBatchFeed(spec, rank, this.channel);
        this.lossReduction = new LossReduction(spec, rank, this.channel, replicaRing);
        int n = spec.numStages();
        int m = spec.microBatches();
        forwardOutputs = new MicroBatchTensors(n, m);
        receivedActivations = new MicroBatchTensors(n, m);
        receivedGradients = new MicroBatchTensors(n, m);
        inputGradients = new MicroBatchTensors(n, m);
        heldActivations = new MicroBatchTensors(n, m);
        peakHeld = new int[n];
        MultiLayerConfiguration conf = spec.configuration();
        int[] boundaries = spec.boundaries();
        if (nonFinite == null) {
            throw new IllegalArgumentException("nonFinite policy must not be null");
        }
        this.nonFinite = nonFinite;
        for (int s : spec.stagesOf(rank)) {
            slices.put(s, ModelSlicer.slice(conf, boundaries, s, spec.seed(), params, spec.recomputes(s),
                    spec.fusesUpdate() && nonFinite == NonFinitePolicy.FAIL));
        }
    }

    /** This worker's job rank (its pipeline rank with one replica). */
    public int rank() {
        return jobRank;
    }

    /** This worker's pipeline device in its replica. */
    public int device() {
        return rank;
    }

    /** This worker's data-parallel replica (0 with one replica). */
    public int replica() {
        return replica;
    }

    /** The pipeline stages this rank holds, ascending. */
    public List<Integer> stages() {
        return List.copyOf(slices.keySet());
    }

    /** This rank's stage slices, in stage order (the per-layer store reads and writes their views). */
    java.util.Collection<StageSlice> slices() {
        return Collections.unmodifiableCollection(slices.values());
    }

    /** The full schedule (every rank's actions). */
    public Schedule schedule() {
        return schedule;
    }

    /**
     * What a step with a non-finite gradient does (default {@link NonFinitePolicy#FAIL}); every rank must use
     * the same policy. With {@link NonFinitePolicy#SKIP} the updates of a step wait until its last backward on
     * every rank and one exchange of a flag through rank 0; then all apply, or none does. A worker whose stages
     * fuse the update into the backward (one micro-batch per step, built with {@code FAIL}) cannot skip: build it
     * with the policy instead.
     */
    public void nonFinite(NonFinitePolicy policy) {
        if (policy == null) {
            throw new IllegalArgumentException("nonFinite policy must not be null");
        }
        if (policy == NonFinitePolicy.SKIP) {
            for (StageSlice s : slices.values()) {
                if (s.fusesUpdate()) {
                    throw new IllegalStateException("stage " + s.stage() + " fuses its update into the backward; "
                            + "build the worker with NonFinitePolicy.SKIP to skip steps");
                }
            }
        }
        nonFinite = policy;
    }

    /** Steps skipped so far (including those a checkpoint this worker resumed from counted). */
    public long skippedSteps() {
        return skippedSteps;
    }

    /**
     * Continues the count of skipped steps of a run resumed from a checkpoint, so DL4J's iteration count (the
     * step minus the skipped steps) continues where it was.
     */
    public void restoreSkippedSteps(long n) {
        if (n < 0) {
            throw new IllegalArgumentException("skipped steps must be >= 0, found " + n);
        }
        skippedSteps = n;
    }

    /** Why the last skipped step was skipped (step, stage, layer), or null when none was. */
    public String lastSkipReason() {
        return lastSkipReason;
    }

    /** {@link #runStep(long, int, DataSet)} in epoch 0. */
    public StepMetrics runStep(long step, DataSet miniBatchOrNull) {
        return runStep(step, 0, miniBatchOrNull);
    }

    /**
     * Runs one optimizer step: all micro-batches of one mini-batch through this rank's actions, then the
     * update of its layers.
     *
     * @param step global optimizer step, 0-based; it is DL4J's iteration count (Adam bias correction,
     *     learning-rate schedules, dropout masks)
     * @param epoch epoch count (epoch-based schedules)
     * @param miniBatchOrNull the mini-batch (features, labels, optional masks) on rank 0, null elsewhere; with
     *     replicas, on device 0 of each replica, its share: examples [r B / R, (r + 1) B / R) of the mini-batch
     * @throws IllegalArgumentException if rank 0 gets no data, another rank gets data, or the mini-batch
     *     size is not a multiple of the micro-batch count
     * @throws StageExecutionException when an action fails (message: stage, rank, step, micro-batch, grid)
     */
    public StepMetrics runStep(long step, int epoch, DataSet miniBatchOrNull) {
        return runStep(step, epoch, MiniBatch.of(miniBatchOrNull));
    }

    /**
     * As {@link #runStep(long, int, DataSet)}, reading rank 0's mini-batch one micro-batch at a time: stage 0
     * reads a micro-batch's rows when it first runs it, so rank 0 holds only the micro-batches in flight.
     */
    public StepMetrics runStep(long step, int epoch, MiniBatch miniBatchOrNull) {
        if (step < 0) {
            throw new IllegalArgumentException("step must be >= 0, found " + step);
        }
        if (rank == 0 && miniBatchOrNull == null) {
            throw new IllegalArgumentException(topology.describe(jobRank) + " holds stage 0 and needs the mini-batch of step "
                    + step);
        }
        if (rank != 0 && miniBatchOrNull != null) {
            throw new IllegalArgumentException("only stage 0 takes data; " + topology.describe(jobRank)
                    + " got a mini-batch at step " + step);
        }
        if (miniBatchOrNull != null) {
            int n = miniBatchOrNull.examples();
            if (n % spec.microBatches() != 0) {
                throw new IllegalArgumentException("microBatches (" + spec.microBatches() + ") must divide the mini-batch size ("
                        + n + ") of step " + step);
            }
        }
        long start = System.nanoTime();
        beginStep(step);
        try {
            feed.begin(step, miniBatchOrNull);
            int microBatchSize = feed.examples() / spec.microBatches();
            long firstExample = (long) replica * feed.examples(); // this replica's share of the mini-batch
            double localRegularization = 0;
            for (StageSlice slice : slices.values()) {
                // DL4J's iteration: updates applied
                slice.beginStep(step - skippedSteps, epoch, microBatchSize, firstExample);
                if (spec.deferWeightGradients()) {
                    slice.deferWeightGradients(spec.microBatches()); // one weight-gradient product per dense layer and step
                }
                localRegularization += slice.regularizationScore();
            }
            lossReduction.shareRegularization(step, localRegularization);
            if (replicaRing != null) {
                reductions = new LayerReductions(replicaRing, step, spec.numStages() + 1, allReduceTimeout);
                for (StageSlice slice : slices.values()) {
                    int stage = slice.stage();
                    slice.reduceEachLayerWhenDone(spec.microBatches(),
                            (gradient, layer) -> reductions.start(stage, layer, gradient));
                }
            }
        } catch (RuntimeException e) {
            closeReductions();
            throw fail(null, e);
        }
        try {
            return runActions(start);
        } finally {
            closeReductions();
        }
    }

    private void closeReductions() {
        if (reductions != null) {
            reductions.close();
            reductions = null;
        }
    }

    /** The step's actions, the checks after them, the skip policy's decision and the step's metrics. */
    private StepMetrics runActions(long start) {
        boolean[] stepped = new boolean[spec.numStages()];
        loss = Double.NaN;
        lossReduced = false;
        deferredSteps.clear();
        for (Action a : actions) {
            if (a.type() == ActionType.STEP && nonFinite == NonFinitePolicy.SKIP) {
                deferredSteps.add(a); // applied below, once every rank's gradients are known to be finite
                stepped[a.stage()] = true;
                continue;
            }
            runTimed(a);
            if (a.type() == ActionType.STEP) {
                stepped[a.stage()] = true;
            }
        }
        boolean skipped = false;
        try {
            for (int s : slices.keySet()) {
                if (!stepped[s]) {
                    throw new IllegalStateException("the schedule of rank " + rank + " has no STEP for stage " + s);
                }
            }
            if (slices.containsKey(lastStage) && !lossReduced) {
                throw new IllegalStateException("the schedule of rank " + rank + " has no LOSS for the last stage " + lastStage);
            }
        } catch (RuntimeException e) {
            throw fail(null, e);
        }
        if (nonFinite == NonFinitePolicy.SKIP) {
            String reason;
            try {
                reason = nonFiniteAnywhere();
            } catch (RuntimeException e) {
                throw fail(null, e);
            }
            if (reason != null) {
                skipped = true;
                skippedSteps++;
                lastSkipReason = "step " + step + " skipped on every stage: non-finite gradient (NaN or infinity) "
                        + reason + " (" + skippedSteps + " skipped so far)";
            } else {
                for (Action a : deferredSteps) {
                    runTimed(a);
                }
            }
        }
        StepMetrics m = timing.metrics(jobRank, feed.examples(), loss, System.nanoTime() - start);
        return skipped ? m.asSkipped() : m;
    }

    /** Micro-batch field of the control keys of the finiteness flags (to rank 0) and its answer (skip policy). */
    static final int CONTROL_FINITE = 2;
    static final int CONTROL_FINITE_ANSWER = 3;

    /**
     * The collective half of the skip policy, over the links between neighbouring ranks that every pipeline has
     * (see {@link PipelineSpec#peersOf}): rank 0 sends rank 1 the first stage and layer where its gradient of
     * this step is not finite (or none); each rank merges its own (the lowest stage wins) and passes it on; the
     * last rank's result is the answer, handed back rank by rank. Returns where that is, or null when every
     * stage's gradient is finite. Every rank gets the same answer, so either all stages apply the step's update
     * or none does.
     */
    private String nonFiniteAnywhere() {
        int badStage = -1;
        int badLayer = -1;
        for (StageSlice slice : slices.values()) {
            int layer = slice.firstNonFiniteLayer();
            if (layer >= 0 && (badStage < 0 || slice.stage() < badStage)) {
                badStage = slice.stage();
                badLayer = layer;
            }
        }
        int last = spec.devices() - 1;
        if (rank > 0) {
            INDArray f = channel.receive(rank - 1, new TensorKey(FrameType.CONTROL, step, CONTROL_FINITE,
                    MicroBatchFeed.firstStage(rank - 1), MicroBatchFeed.firstStage(rank)));
            int st = (int) f.getDouble(0);
            if (st >= 0 && (badStage < 0 || st < badStage)) {
                badStage = st;
                badLayer = (int) f.getDouble(1);
            }
        }
        if (rank < last) {
            channel.send(rank + 1, new TensorKey(FrameType.CONTROL, step, CONTROL_FINITE, MicroBatchFeed.firstStage(rank),
                    MicroBatchFeed.firstStage(rank + 1)), org.nd4j.linalg.factory.Nd4j.createFromArray((double) badStage,
                    (double) badLayer));
            INDArray answer = channel.receive(rank + 1, new TensorKey(FrameType.CONTROL, step, CONTROL_FINITE_ANSWER,
                    MicroBatchFeed.firstStage(rank + 1), MicroBatchFeed.firstStage(rank)));
            badStage = (int) answer.getDouble(0);
            badLayer = (int) answer.getDouble(1);
        }
        if (rank > 0) {
            channel.send(rank - 1, new TensorKey(FrameType.CONTROL, step, CONTROL_FINITE_ANSWER, MicroBatchFeed.firstStage(rank),
                    MicroBatchFeed.firstStage(rank - 1)), org.nd4j.linalg.factory.Nd4j.createFromArray((double) badStage,
                    (double) badLayer));
        }
        if (badStage < 0) {
            return null;
        }
        return "on stage " + badStage + ", first in layer " + badLayer + " ("
                + spec.configuration().getConf(badLayer).getLayer().getClass().getSimpleName() + ")";
    }

    /**
     * The most micro-batches stage {@code stage} (of this rank) held at once for its backward since the worker
     * was built: the in-flight count its schedule allows (1F1B: at most P - s).
     */
    int peakHeldMicroBatches(int stage) {
        slice(stage);
        return peakHeld[stage];
    }

    /** Copies of the parameters of this rank's layers, keyed by global layer index. */
    public Map<Integer, INDArray> layerParameters() {
        Map<Integer, INDArray> out = new TreeMap<>();
        for (StageSlice s : slices.values()) {
            out.putAll(s.parameters());
        }
        return Collections.unmodifiableMap(out);
    }

    /** Copies of the updater state of this rank's layers (layout in {@code LayerParameters}). */
    public Map<Integer, INDArray> updaterState() {
        Map<Integer, INDArray> out = new TreeMap<>();
        for (StageSlice s : slices.values()) {
            out.putAll(s.updaterState());
        }
        return Collections.unmodifiableMap(out);
    }

    /** Restores the updater state of this rank's layers (e.g. from a checkpoint). */
    public void setUpdaterState(Map<Integer, INDArray> state) {
        for (StageSlice s : slices.values()) {
            s.setUpdaterState(state);
        }
    }

    /** Runs one action and records its time; a failure is reported with the action and the grid. */
    private void runTimed(Action a) {
        long t0 = System.nanoTime();
        try {
            run(a);
        } catch (RuntimeException e) {
            throw fail(a, e);
        }
        timing.action(a, t0, System.nanoTime());
    }

    // ---- one handler per action type ----

    private void run(Action a) {
        switch (a.type()) {
            case FORWARD -> forward(a.stage(), a.microBatch());
            case BACKWARD -> backward(a.stage(), a.microBatch());
            case SEND_F -> sendForward(a.stage(), a.microBatch());
            case RECV_F -> receiveForward(a.stage(), a.microBatch());
            case SEND_B -> sendBackward(a.stage(), a.microBatch());
            case RECV_B -> receiveBackward(a.stage(), a.microBatch());
            case ALLREDUCE -> allReduce(a.stage());
            case STEP -> slice(a.stage()).applyUpdate(miniBatchExamples());
            case LOAD -> feed.load(a.microBatch());
            case SEND_L -> feed.sendLabels(a.stage(), a.microBatch());
            case RECV_L -> feed.receiveLabels(a.stage(), a.microBatch());
            case LOSS -> {
                slice(a.stage());
                loss = lossReduction.loss(slices.values(), step, feed.examples());
                lossReduced = true;
            }
            default -> throw new UnsupportedOperationException("action type " + a.type()
                    + " is not supported by the stage worker (no split backward)");
        }
    }

    /** Examples of the whole mini-batch (all replicas): what DL4J's fit divides the summed gradient by. */
    private int miniBatchExamples() {
        return feed.examples() * topology.replicas();
    }

    /** The ALLREDUCE action: stage {@code stage}'s gradient becomes its sum over the replicas. */
    private void allReduce(int stage) {
        StageSlice slice = slice(stage);
        if (replicaRing == null) {
            throw new IllegalStateException("ALLREDUCE of stage " + stage + " with one replica: nothing to sum");
        }
        if (reductions != null && reductions.started(stage)) {
            // Each layer's sum began when its last backward of the step was done; the rank now only waits for the
            // rest, which is idle time (a WAIT, out of the measured bubble's busy time), not work.
            long t0 = System.nanoTime();
            reductions.await(stage);
            timing.waited(stage, -1, t0, System.nanoTime());
        } else {
            slice.reduceGradient(flat -> replicaRing.sumInPlace(flat, step, stage));
        }
    }

    private void forward(int stage, int mb) {
        StageSlice slice = slice(stage);
        INDArray input;
        if (stage == 0) {
            input = feed.features(mb);
        } else if (slices.containsKey(stage - 1)) {
            input = forwardOutputs.take(stage - 1, mb, "the output of local stage " + (stage - 1));
        } else {
            input = receivedActivations.take(stage, mb, "an activation received by RECV_F");
        }
        INDArray out = slice.forward(mb, input, feed.featuresMask(mb));
        peakHeld[stage] = Math.max(peakHeld[stage], slice.heldMicroBatches());
        if (stage != 0 && !slices.containsKey(stage - 1)) {
            heldActivations.put(stage, mb, input);
        }
        if (stage != lastStage) {
            forwardOutputs.put(stage, mb, out);
        }
    }

    private void backward(int stage, int mb) {
        StageSlice slice = slice(stage);
        INDArray inputGradient;
        if (stage == lastStage) {
            INDArray y = feed.labels(mb);
            inputGradient = slice.backwardWithLabels(mb, y, feed.labelsMask(mb));
            feed.release(y);
        } else {
            boolean local = slices.containsKey(stage + 1);
            INDArray g = local
                    ? inputGradients.take(stage + 1, mb, "the input gradient of local stage " + (stage + 1))
                    : receivedGradients.take(stage, mb, "a gradient received by RECV_B");
            inputGradient = slice.backward(mb, g);
            if (!local) {
                channel.recycle(g);
            }
        }
        // The stage is done with this micro-batch's received activation: its buffer serves the next frame.
        INDArray in = heldActivations.takeOrNull(stage, mb);
        if (in != null) {
            channel.recycle(in);
        }
        if (stage > 0) {
            inputGradients.put(stage, mb, inputGradient);
        }
    }

    private void sendForward(int stage, int mb) {
        INDArray out = forwardOutputs.take(stage, mb, "the output of F");
        channel.send(spec.rankOf(stage + 1), new TensorKey(FrameType.ACTIVATION, step, mb, stage, stage + 1), out);
    }

    private void receiveForward(int stage, int mb) {
        receivedActivations.put(stage, mb,
                channel.receive(spec.rankOf(stage - 1), new TensorKey(FrameType.ACTIVATION, step, mb, stage - 1, stage)));
    }

    private void sendBackward(int stage, int mb) {
        INDArray g = inputGradients.take(stage, mb, "the input gradient of B");
        channel.send(spec.rankOf(stage - 1), new TensorKey(FrameType.GRADIENT, step, mb, stage, stage - 1), g);
    }

    private void receiveBackward(int stage, int mb) {
        receivedGradients.put(stage, mb,
                channel.receive(spec.rankOf(stage + 1), new TensorKey(FrameType.GRADIENT, step, mb, stage + 1, stage)));
    }

    // ---- helpers ----

    private void beginStep(long step) {
        this.step = step;
        timing.begin(step);
        forwardOutputs.clear();
        receivedActivations.clear();
        receivedGradients.clear();
        inputGradients.clear();
        heldActivations.clear();
    }

    private StageSlice slice(int stage) {
        StageSlice s = slices.get(stage);
        if (s == null) {
            throw new IllegalStateException("rank " + rank + " does not hold stage " + stage + " (it holds " + slices.keySet() + ")");
        }
        return s;
    }

    private StageExecutionException fail(Action a, RuntimeException cause) {
        String where = a == null
                ? topology.describe(jobRank) + " (stages " + slices.keySet() + ") failed at step " + step + " outside its actions"
                : "stage " + a.stage() + " on " + topology.describe(jobRank) + " failed at step " + step
                        + (a.type().perMicroBatch() ? ", micro-batch " + a.microBatch() : "") + ", action " + a;
        String msg = where + ": " + cause.getMessage() + "\n" + ScheduleGrid.render(schedule, a);
        return new StageExecutionException(msg, jobRank, step, a, cause);
    }
}
