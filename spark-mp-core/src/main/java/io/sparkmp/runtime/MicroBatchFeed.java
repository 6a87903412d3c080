package io.sparkmp.runtime;

import java.util.HashMap;
import java.util.Map;

import io.sparkmp.transport.FrameType;
import io.sparkmp.transport.TensorKey;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The training rows of one step as a rank's stages see them, moved by the schedule's control actions
 * ({@link io.sparkmp.schedule.ControlTraffic}). At the start of the step the header (mini-batch size, which
 * masks exist) travels rank 0 -> 1 -> ... -> P - 1. On rank 0, {@link #load} (the LOAD action) reads one
 * micro-batch's rows from the {@link MiniBatch} (the spilled data, in the model's data type), so rank 0 never
 * holds the whole mini-batch, only the micro-batches in flight; {@link #sendLabels} (SEND_L) passes its labels and masks to the next
 * rank, {@link #receiveLabels} (RECV_L) takes them from the previous one; every rank keeps the features mask for
 * its forwards, and the last stage's rank the labels for its backward.
 */
final class MicroBatchFeed {

    /** Micro-batch field of the step header's control key. */
    static final int CONTROL_HEADER = 0;

    private final PipelineSpec spec;
    private final int rank;
    private final int lastStage;
    private final int lastRank;
    private final StepChannel channel;
    private final Map<Integer, INDArray> features = new HashMap<>();
    private final Map<Integer, INDArray> featuresMasks = new HashMap<>();
    private final Map<Integer, INDArray> labels = new HashMap<>();
    private final Map<Integer, INDArray> labelsMasks = new HashMap<>();
    private long step;
    private MiniBatch source;
    private int examples;
    private boolean hasFeaturesMask;
    private boolean hasLabelsMask;

    MicroBatchFeed(PipelineSpec spec, int rank, StepChannel channel) {
        this.spec = spec;
        this.rank = rank;
        this.lastStage = spec.numStages() - 1;
        this.lastRank = spec.rankOf(lastStage);
        this.channel = channel;
    }

    /**
     * Starts {@code step}: rank 0 takes {@code miniBatchOrNull} and sends the header on; the other ranks receive
     * the header and pass it on to the next rank.
     *
     * @throws IllegalStateException if a received header announces a size the micro-batches cannot split
     */
    void begin(long step, MiniBatch miniBatchOrNull) {
        this.step = step;
        features.clear();
        featuresMasks.clear();
        labels.clear();
        labelsMasks.clear();
        source = null;
        if (rank == 0) {
            source = miniBatchOrNull;
            examples = miniBatchOrNull.examples();
            hasFeaturesMask = miniBatchOrNull.hasFeaturesMask();
            hasLabelsMask = miniBatchOrNull.hasLabelsMask();
        } else {
            receiveHeader();
        }
        if (rank + 1 < spec.devices()) {
            INDArray header = Nd4j.createFromArray((double) examples, hasFeaturesMask ? 1 : 0, hasLabelsMask ? 1 : 0);
            channel.send(rank + 1, new TensorKey(FrameType.CONTROL, step, CONTROL_HEADER, firstStage(rank),
                    firstStage(rank + 1)), header);
        }
    }

    /**
     * The LOAD action (rank 0): micro-batch {@code mb}'s features, labels and masks read from the step's mini-batch.
     *
     * @throws IllegalStateException on another rank
     */
    void load(int mb) {
        if (rank != 0 || source == null) {
            throw new IllegalStateException("LOAD of micro-batch " + mb + " on rank " + rank + ": only rank 0 holds the data");
        }
        int size = examples / spec.microBatches();
        int from = mb * size;
        features.put(mb, source.features(from, size));
        labels.put(mb, source.labels(from, size));
        if (hasFeaturesMask) {
            featuresMasks.put(mb, source.featuresMask(from, size));
        }
        if (hasLabelsMask) {
            labelsMasks.put(mb, source.labelsMask(from, size));
        }
    }

    /**
     * The SEND_L action of {@code stage}: micro-batch {@code mb}'s labels (and masks) to the rank of
     * {@code stage + 1}. This rank keeps the features mask for its own forwards; the labels leave it.
     */
    void sendLabels(int stage, int mb) {
        int to = spec.rankOf(stage + 1);
        INDArray y = labels.remove(mb);
        if (y == null) {
            throw new IllegalStateException("no labels of micro-batch " + mb + " on rank " + rank + " to send: expected "
                    + (rank == 0 ? "a LOAD" : "a RECV_L") + " before this action");
        }
        channel.send(to, new TensorKey(FrameType.LABELS, step, mb, stage, stage + 1), y);
        if (hasLabelsMask) {
            channel.send(to, new TensorKey(FrameType.LABEL_MASK, step, mb, stage, stage + 1), labelsMasks.remove(mb));
        }
        if (hasFeaturesMask) {
            channel.send(to, new TensorKey(FrameType.FEATURES_MASK, step, mb, stage, stage + 1), featuresMasks.get(mb));
        }
    }

    /** The RECV_L action of {@code stage}: micro-batch {@code mb}'s labels (and masks) from the rank of {@code stage - 1}. */
    void receiveLabels(int stage, int mb) {
        int from = spec.rankOf(stage - 1);
        labels.put(mb, channel.receive(from, new TensorKey(FrameType.LABELS, step, mb, stage - 1, stage)));
        if (hasLabelsMask) {
            labelsMasks.put(mb, channel.receive(from, new TensorKey(FrameType.LABEL_MASK, step, mb, stage - 1, stage)));
        }
        if (hasFeaturesMask) {
            featuresMasks.put(mb, channel.receive(from, new TensorKey(FrameType.FEATURES_MASK, step, mb, stage - 1, stage)));
        }
    }

    /** Micro-batches whose rows the feed holds now (read, not yet taken by the stages). */
    int heldMicroBatches() {
        return features.size() + labels.size();
    }

    /** Examples in this step's mini-batch. */
    int examples() {
        return examples;
    }

    /** Stage 0's input of micro-batch {@code mb} (rank 0, after its LOAD); handed over once. */
    INDArray features(int mb) {
        return required(features.remove(mb), "features", mb, "a LOAD");
    }

    /** The features mask of micro-batch {@code mb}, or null without one (after its LOAD or RECV_L). */
    INDArray featuresMask(int mb) {
        return hasFeaturesMask ? required(featuresMasks.get(mb), "features mask", mb, rank == 0 ? "a LOAD" : "a RECV_L") : null;
    }

    /** The labels of micro-batch {@code mb}, for the last stage; hand them to {@link #release} after use. */
    INDArray labels(int mb) {
        return required(labels.remove(mb), "labels", mb, rank == 0 ? "a LOAD" : "a RECV_L");
    }

    /** The labels mask of micro-batch {@code mb}, or null without one. */
    INDArray labelsMask(int mb) {
        return hasLabelsMask ? required(labelsMasks.remove(mb), "labels mask", mb, rank == 0 ? "a LOAD" : "a RECV_L") : null;
    }

    private INDArray required(INDArray a, String what, int mb, String action) {
        if (a == null) {
            throw new IllegalStateException("no " + what + " of micro-batch " + mb + " on rank " + rank + ": expected "
                    + action + " of it before this action");
        }
        return a;
    }

    /** The last stage is done with labels from {@link #labels}: received ones go back to the channel. */
    void release(INDArray labelsOfMicroBatch) {
        if (lastRank != 0) {
            channel.recycle(labelsOfMicroBatch);
        }
    }

    private void receiveHeader() {
        INDArray h = channel.receive(rank - 1, new TensorKey(FrameType.CONTROL, step, CONTROL_HEADER, firstStage(rank - 1),
                firstStage(rank)));
        examples = (int) h.getDouble(0);
        hasFeaturesMask = h.getDouble(1) != 0;
        hasLabelsMask = h.getDouble(2) != 0;
        if (examples <= 0 || examples % spec.microBatches() != 0) {
            throw new IllegalStateException("step header from rank 0 announces " + examples + " examples, not a positive multiple of "
                    + spec.microBatches() + " micro-batches");
        }
    }

    /** The first (lowest) stage of rank {@code r}: stage {@code r}, as stage s runs on rank s % P. */
    static int firstStage(int r) {
        return r;
    }
}
