package io.sparkmp.runtime;

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
 * <p>Per step, the {@link MicroBatchFeed} splits the mini-batch on rank 0 and brings every stage its
 * micro-batches' rows, labels and masks; the {@link LossReduction} gathers DL4J's score on the last stage's
 * rank. Then each rank runs its actions through one small handler per action type; an unknown or
 * unsupported type fails loudly. With an {@link ActionRecorder}, the actions and waits of its sampled steps
 * are recorded for the timeline.
 *
 * <p>Misuse: every rank must call {@link #runStep} with the same step numbers in the same order; only
 * rank 0 gets the data. After a {@link StageExecutionException} the worker is in an undefined state and
 * must be discarded. Not thread-safe: one thread per worker.
 */
public final class StageWorker {

    private final PipelineSpec spec;
    private final Schedule schedule;
    private final int rank;
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
    private long step;

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

    /** As the public constructor, with an explicit schedule (tests: hand-made or broken action lists). */
    StageWorker(PipelineSpec spec, Schedule schedule, int rank, TensorChannel channel, Map<Integer, INDArray> params) {
        this(spec, schedule, rank, channel, params, null);
    }

    private StageWorker(PipelineSpec spec, Schedule schedule, int rank, TensorChannel channel,
                        Map<Integer, INDArray> params, ActionRecorder recorderOrNull) {
        if (spec == null || schedule == null || channel == null) {
            throw new IllegalArgumentException("spec, schedule and channel must not be null");
        }
        if (rank < 0 || rank >= spec.devices()) {
            throw new IllegalArgumentException("rank " + rank + " is out of range [0, " + spec.devices() + ")");
        }
        if (channel.localRank() != rank) {
            throw new IllegalArgumentException("channel belongs to rank " + channel.localRank() + ", not rank " + rank);
        }
        if (recorderOrNull != null && recorderOrNull.rank() != rank) {
            throw new IllegalArgumentException("recorder belongs to rank " + recorderOrNull.rank() + ", not rank " + rank);
        }
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
        this.feed = new MicroBatchFeed(spec, rank, this.channel, timing);
        this.lossReduction = new LossReduction(spec, rank, this.channel, timing);
        int n = spec.numStages();
        int m = spec.microBatches();
        forwardOutputs = new MicroBatchTensors(n, m);
        receivedActivations = new MicroBatchTensors(n, m);
        receivedGradients = new MicroBatchTensors(n, m);
        inputGradients = new MicroBatchTensors(n, m);
        heldActivations = new MicroBatchTensors(n, m);
        MultiLayerConfiguration conf = spec.configuration();
        int[] boundaries = spec.boundaries();
        for (int s : spec.stagesOf(rank)) {
            slices.put(s, ModelSlicer.slice(conf, boundaries, s, spec.seed(), params, spec.recomputes(s), spec.fusesUpdate()));
        }
    }

    /** This worker's rank. */
    public int rank() {
        return rank;
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
     * @param miniBatchOrNull the mini-batch (features, labels, optional masks) on rank 0, null elsewhere
     * @throws IllegalArgumentException if rank 0 gets no data, another rank gets data, or the mini-batch
     *     size is not a multiple of the micro-batch count
     * @throws StageExecutionException when an action fails (message: stage, rank, step, micro-batch, grid)
     */
    public StepMetrics runStep(long step, int epoch, DataSet miniBatchOrNull) {
        if (step < 0) {
            throw new IllegalArgumentException("step must be >= 0, found " + step);
        }
        if (rank == 0 && miniBatchOrNull == null) {
            throw new IllegalArgumentException("rank 0 holds stage 0 and needs the mini-batch of step " + step);
        }
        if (rank != 0 && miniBatchOrNull != null) {
            throw new IllegalArgumentException("only rank 0 takes data; rank " + rank + " got a mini-batch at step " + step);
        }
        if (miniBatchOrNull != null) {
            int n = miniBatchOrNull.numExamples();
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
            double localRegularization = 0;
            for (StageSlice slice : slices.values()) {
                slice.beginStep(step, epoch, microBatchSize);
                localRegularization += slice.regularizationScore();
            }
            lossReduction.shareRegularization(step, localRegularization);
        } catch (RuntimeException e) {
            throw fail(null, e);
        }
        boolean[] stepped = new boolean[spec.numStages()];
        for (Action a : actions) {
            long t0 = System.nanoTime();
            try {
                run(a);
            } catch (RuntimeException e) {
                throw fail(a, e);
            }
            timing.action(a, t0, System.nanoTime());
            if (a.type() == ActionType.STEP) {
                stepped[a.stage()] = true;
            }
        }
        double loss = Double.NaN;
        try {
            for (int s : slices.keySet()) {
                if (!stepped[s]) {
                    throw new IllegalStateException("the schedule of rank " + rank + " has no STEP for stage " + s);
                }
            }
            if (slices.containsKey(lastStage)) {
                loss = lossReduction.loss(slices.values(), feed.examples());
            }
        } catch (RuntimeException e) {
            throw fail(null, e);
        }
        return timing.metrics(rank, feed.examples(), loss, System.nanoTime() - start);
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

    // ---- one handler per action type ----

    private void run(Action a) {
        switch (a.type()) {
            case FORWARD -> forward(a.stage(), a.microBatch());
            case BACKWARD -> backward(a.stage(), a.microBatch());
            case SEND_F -> sendForward(a.stage(), a.microBatch());
            case RECV_F -> receiveForward(a.stage(), a.microBatch());
            case SEND_B -> sendBackward(a.stage(), a.microBatch());
            case RECV_B -> receiveBackward(a.stage(), a.microBatch());
            case STEP -> slice(a.stage()).applyUpdate(feed.examples());
            default -> throw new UnsupportedOperationException("action type " + a.type()
                    + " is not supported by the stage worker (no split backward, no data-parallel replicas)");
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
                ? "rank " + rank + " (stages " + slices.keySet() + ") failed at step " + step + " outside its actions"
                : "stage " + a.stage() + " on rank " + rank + " failed at step " + step
                        + (a.type().perMicroBatch() ? ", micro-batch " + a.microBatch() : "") + ", action " + a;
        String msg = where + ": " + cause.getMessage() + "\n" + ScheduleGrid.render(schedule, a);
        return new StageExecutionException(msg, rank, step, a, cause);
    }
}
