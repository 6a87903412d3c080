package io.sparkmp.runtime;

import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.HashMap;
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
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Runs the pipeline stages of one rank (one device/task): its slice of the model (several virtual
 * stages with interleaved schedules) and its list of schedule actions, one mini-batch per
 * {@link #runStep}.
 *
 * <p>Per step, rank 0 (which holds stage 0) splits the mini-batch into micro-batches of equal size,
 * sends a small step header (mini-batch size, which masks exist) to every other rank, the features
 * masks to every other rank and the labels (and labels masks) to the rank of the last stage. Every rank
 * sends its layers' regularization score to the last stage's rank, which reports DL4J's score. Then each
 * rank runs its actions through one small handler per action type; an unknown or unsupported type fails
 * loudly.
 *
 * <p>Misuse: every rank must call {@link #runStep} with the same step numbers in the same order; only
 * rank 0 gets the data. After a {@link StageExecutionException} the worker is in an undefined state and
 * must be discarded. Not thread-safe: one thread per worker.
 */
public final class StageWorker {

    private static final int CONTROL_HEADER = 0;
    private static final int CONTROL_REGULARIZATION = 1;

    private final PipelineSpec spec;
    private final Schedule schedule;
    private final int rank;
    private final TensorChannel channel;
    private final int lastStage;
    private final Map<Integer, StageSlice> slices = new LinkedHashMap<>();
    private final List<Action> actions;

    // Per-step state, keyed by (stage, micro-batch).
    private final Map<Long, INDArray> forwardInputs = new HashMap<>();
    private final Map<Long, INDArray> forwardOutputs = new HashMap<>();
    private final Map<Long, INDArray> outputGradients = new HashMap<>();
    private final Map<Long, INDArray> inputGradients = new HashMap<>();
    /** Activations received for a stage's forward, handed back to the channel after that micro-batch's backward. */
    private final Map<Long, INDArray> receivedInputs = new HashMap<>();
    private final Map<Integer, INDArray> featuresMasks = new HashMap<>();
    private final Map<Integer, INDArray> labels = new HashMap<>();
    private final Map<Integer, INDArray> labelsMasks = new HashMap<>();
    private final List<INDArray> features = new ArrayList<>();
    private final EnumMap<ActionType, Long> nanos = new EnumMap<>(ActionType.class);
    private final EnumMap<ActionType, Integer> counts = new EnumMap<>(ActionType.class);
    private long step;
    private int examples;
    private boolean hasFeaturesMask;
    private boolean hasLabelsMask;
    private long waitNanos;

    /**
     * Builds this rank's stages from {@code spec} (only its own layers are ever created).
     *
     * @param rank this worker's rank, in [0, spec.devices())
     * @param channel links to the other ranks; its {@code localRank()} must equal {@code rank}
     * @param initialParamsOrNull per-layer parameters (global layer index to vector; entries of other ranks
     *     are ignored), or null for the deterministic initialisation from {@code spec.seed()}
     */
    public StageWorker(PipelineSpec spec, int rank, TensorChannel channel, Map<Integer, INDArray> initialParamsOrNull) {
        this(spec, spec == null ? null : spec.buildSchedule(), rank, channel, initialParamsOrNull);
    }

    /** As the public constructor, with an explicit schedule (tests: hand-made or broken action lists). */
    StageWorker(PipelineSpec spec, Schedule schedule, int rank, TensorChannel channel, Map<Integer, INDArray> params) {
        if (spec == null || schedule == null || channel == null) {
            throw new IllegalArgumentException("spec, schedule and channel must not be null");
        }
        if (rank < 0 || rank >= spec.devices()) {
            throw new IllegalArgumentException("rank " + rank + " is out of range [0, " + spec.devices() + ")");
        }
        if (channel.localRank() != rank) {
            throw new IllegalArgumentException("channel belongs to rank " + channel.localRank() + ", not rank " + rank);
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
        this.channel = channel;
        this.lastStage = spec.numStages() - 1;
        this.actions = schedule.actions(rank);
        MultiLayerConfiguration conf = spec.configuration();
        int[] boundaries = spec.boundaries();
        for (int s : spec.stagesOf(rank)) {
            slices.put(s, ModelSlicer.slice(conf, boundaries, s, spec.seed(), params, spec.recomputes(s)));
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
        resetStep(step);
        try {
            if (rank == 0) {
                distribute(miniBatchOrNull);
            } else {
                receiveHeader();
            }
            int microBatchSize = examples / spec.microBatches();
            double localRegularization = 0;
            for (StageSlice slice : slices.values()) {
                slice.beginStep(step, epoch, microBatchSize);
                localRegularization += slice.regularizationScore();
            }
            ownRegularization = localRegularization;
            int lastRank = spec.rankOf(lastStage);
            if (rank != lastRank) {
                send(lastRank, new TensorKey(FrameType.CONTROL, step, CONTROL_REGULARIZATION, firstStage(rank), lastStage),
                        Nd4j.scalar(DataType.DOUBLE, localRegularization).reshape(1));
            }
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
            nanos.merge(a.type(), System.nanoTime() - t0, Long::sum);
            counts.merge(a.type(), 1, Integer::sum);
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
                loss = loss();
            }
        } catch (RuntimeException e) {
            throw fail(null, e);
        }
        return new StepMetrics(step, rank, examples, loss, System.nanoTime() - start, waitNanos, nanos, counts);
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
            case STEP -> slice(a.stage()).applyUpdate(examples);
            default -> throw new UnsupportedOperationException("action type " + a.type()
                    + " is not supported by the stage worker (no split backward, no data-parallel replicas)");
        }
    }

    private void forward(int stage, int mb) {
        StageSlice slice = slice(stage);
        INDArray input;
        if (stage == 0) {
            input = features.get(mb);
        } else if (slices.containsKey(stage - 1)) {
            input = take(forwardOutputs, stage - 1, mb, "the output of local stage " + (stage - 1));
        } else {
            input = take(forwardInputs, stage, mb, "an activation received by RECV_F");
        }
        INDArray out = slice.forward(mb, input, featuresMask(mb));
        if (stage != 0 && !slices.containsKey(stage - 1)) {
            receivedInputs.put(key(stage, mb), input);
        }
        if (stage != lastStage) {
            forwardOutputs.put(key(stage, mb), out);
        }
    }

    private void backward(int stage, int mb) {
        StageSlice slice = slice(stage);
        INDArray inputGradient;
        if (stage == lastStage) {
            boolean received = !labels.containsKey(mb);
            INDArray y = labels(mb);
            inputGradient = slice.backwardWithLabels(mb, y, labelsMask(mb));
            if (received) {
                channel.recycle(y);
            }
        } else {
            boolean local = slices.containsKey(stage + 1);
            INDArray g = local
                    ? take(inputGradients, stage + 1, mb, "the input gradient of local stage " + (stage + 1))
                    : take(outputGradients, stage, mb, "a gradient received by RECV_B");
            inputGradient = slice.backward(mb, g);
            if (!local) {
                channel.recycle(g);
            }
        }
        // The stage is done with this micro-batch's received activation: its buffer serves the next frame.
        INDArray in = receivedInputs.remove(key(stage, mb));
        if (in != null) {
            channel.recycle(in);
        }
        if (stage > 0) {
            inputGradients.put(key(stage, mb), inputGradient);
        }
    }

    private void sendForward(int stage, int mb) {
        INDArray out = take(forwardOutputs, stage, mb, "the output of F");
        send(spec.rankOf(stage + 1), new TensorKey(FrameType.ACTIVATION, step, mb, stage, stage + 1), out);
    }

    private void receiveForward(int stage, int mb) {
        INDArray in = receive(spec.rankOf(stage - 1), new TensorKey(FrameType.ACTIVATION, step, mb, stage - 1, stage));
        forwardInputs.put(key(stage, mb), in);
    }

    private void sendBackward(int stage, int mb) {
        INDArray g = take(inputGradients, stage, mb, "the input gradient of B");
        send(spec.rankOf(stage - 1), new TensorKey(FrameType.GRADIENT, step, mb, stage, stage - 1), g);
    }

    private void receiveBackward(int stage, int mb) {
        INDArray g = receive(spec.rankOf(stage + 1), new TensorKey(FrameType.GRADIENT, step, mb, stage + 1, stage));
        outputGradients.put(key(stage, mb), g);
    }

    // ---- data distribution (rank 0) and the step header ----

    private void distribute(DataSet ds) {
        int m = spec.microBatches();
        examples = ds.numExamples();
        int size = examples / m;
        hasFeaturesMask = ds.getFeaturesMaskArray() != null;
        hasLabelsMask = ds.getLabelsMaskArray() != null;
        int lastRank = spec.rankOf(lastStage);
        for (int r = 1; r < spec.devices(); r++) {
            INDArray header = Nd4j.createFromArray((double) examples, hasFeaturesMask ? 1 : 0, hasLabelsMask ? 1 : 0);
            send(r, new TensorKey(FrameType.CONTROL, step, CONTROL_HEADER, 0, firstStage(r)), header);
        }
        for (int i = 0; i < m; i++) {
            features.add(rows(ds.getFeatures(), i * size, size));
            INDArray y = rows(ds.getLabels(), i * size, size);
            INDArray fm = hasFeaturesMask ? rows(ds.getFeaturesMaskArray(), i * size, size) : null;
            INDArray lm = hasLabelsMask ? rows(ds.getLabelsMaskArray(), i * size, size) : null;
            if (fm != null) {
                featuresMasks.put(i, fm);
                for (int r = 1; r < spec.devices(); r++) {
                    send(r, new TensorKey(FrameType.FEATURES_MASK, step, i, 0, firstStage(r)), fm);
                }
            }
            if (lastRank == 0) {
                labels.put(i, y);
                if (lm != null) {
                    labelsMasks.put(i, lm);
                }
            } else {
                send(lastRank, new TensorKey(FrameType.LABELS, step, i, 0, lastStage), y);
                if (lm != null) {
                    send(lastRank, new TensorKey(FrameType.LABEL_MASK, step, i, 0, lastStage), lm);
                }
            }
        }
    }

    private void receiveHeader() {
        INDArray h = receive(0, new TensorKey(FrameType.CONTROL, step, CONTROL_HEADER, 0, firstStage(rank)));
        examples = (int) h.getDouble(0);
        hasFeaturesMask = h.getDouble(1) != 0;
        hasLabelsMask = h.getDouble(2) != 0;
        if (examples <= 0 || examples % spec.microBatches() != 0) {
            throw new IllegalStateException("step header from rank 0 announces " + examples + " examples, not a positive multiple of "
                    + spec.microBatches() + " micro-batches");
        }
    }

    private INDArray featuresMask(int mb) {
        if (!hasFeaturesMask) {
            return null;
        }
        INDArray m = featuresMasks.get(mb);
        if (m == null) {
            m = receive(0, new TensorKey(FrameType.FEATURES_MASK, step, mb, 0, firstStage(rank)));
            featuresMasks.put(mb, m);
        }
        return m;
    }

    private INDArray labels(int mb) {
        INDArray y = labels.remove(mb);
        return y != null ? y : receive(0, new TensorKey(FrameType.LABELS, step, mb, 0, lastStage));
    }

    private INDArray labelsMask(int mb) {
        if (!hasLabelsMask) {
            return null;
        }
        INDArray m = labelsMasks.remove(mb);
        return m != null ? m : receive(0, new TensorKey(FrameType.LABEL_MASK, step, mb, 0, lastStage));
    }

    /** DL4J's score: summed loss over the mini-batch / examples + L1/L2 terms of every rank's layers. */
    private double loss() {
        double sum = 0;
        double regularization = 0;
        for (StageSlice s : slices.values()) {
            sum += s.lossSum();
        }
        for (int r = 0; r < spec.devices(); r++) {
            if (r == rank) {
                continue;
            }
            regularization += receive(r, new TensorKey(FrameType.CONTROL, step, CONTROL_REGULARIZATION, firstStage(r), lastStage))
                    .getDouble(0);
        }
        // This rank's own terms were taken before its update.
        regularization += ownRegularization;
        return sum / examples + regularization;
    }

    // ---- helpers ----

    private double ownRegularization;

    private void resetStep(long step) {
        this.step = step;
        forwardInputs.clear();
        forwardOutputs.clear();
        outputGradients.clear();
        inputGradients.clear();
        receivedInputs.clear();
        featuresMasks.clear();
        labels.clear();
        labelsMasks.clear();
        features.clear();
        nanos.clear();
        counts.clear();
        waitNanos = 0;
        ownRegularization = 0;
    }

    private StageSlice slice(int stage) {
        StageSlice s = slices.get(stage);
        if (s == null) {
            throw new IllegalStateException("rank " + rank + " does not hold stage " + stage + " (it holds " + slices.keySet() + ")");
        }
        return s;
    }

    private int firstStage(int r) {
        return r;
    }

    private void send(int peer, TensorKey key, INDArray tensor) {
        channel.send(peer, key, tensor);
    }

    private INDArray receive(int peer, TensorKey key) {
        long t0 = System.nanoTime();
        try {
            return channel.receive(peer, key);
        } finally {
            waitNanos += System.nanoTime() - t0;
        }
    }

    private static long key(int stage, int mb) {
        return ((long) stage << 32) | (mb & 0xffffffffL);
    }

    private static INDArray take(Map<Long, INDArray> map, int stage, int mb, String what) {
        INDArray t = map.remove(key(stage, mb));
        if (t == null) {
            throw new IllegalStateException("no input for stage " + stage + " micro-batch " + mb + ": expected " + what
                    + " before this action");
        }
        return t;
    }

    private static INDArray rows(INDArray a, long from, long count) {
        INDArrayIndex[] idx = new INDArrayIndex[a.rank()];
        idx[0] = NDArrayIndex.interval(from, from + count);
        for (int i = 1; i < idx.length; i++) {
            idx[i] = NDArrayIndex.all();
        }
        return a.get(idx).dup('c');
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
