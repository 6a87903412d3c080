package io.sparkmp.runtime;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import io.sparkmp.transport.FrameType;
import io.sparkmp.transport.TensorKey;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * The training rows of one step as a rank's stages see them. On rank 0 (stage 0): the mini-batch split into
 * micro-batches of equal size, the step header (mini-batch size, which masks exist) sent to every other rank,
 * the features masks to every other rank and the labels (and labels masks) to the last stage's rank. On the
 * other ranks: the header received, and the masks and labels received when a stage first asks for them.
 */
final class MicroBatchFeed {

    /** Micro-batch field of the step header's control key. */
    static final int CONTROL_HEADER = 0;

    private final PipelineSpec spec;
    private final int rank;
    private final int lastStage;
    private final int lastRank;
    private final StepChannel channel;
    private final StepTiming timing;
    private final List<INDArray> features = new ArrayList<>();
    private final Map<Integer, INDArray> featuresMasks = new HashMap<>();
    private final Map<Integer, INDArray> labels = new HashMap<>();
    private final Map<Integer, INDArray> labelsMasks = new HashMap<>();
    private long step;
    private int examples;
    private boolean hasFeaturesMask;
    private boolean hasLabelsMask;

    MicroBatchFeed(PipelineSpec spec, int rank, StepChannel channel, StepTiming timing) {
        this.spec = spec;
        this.rank = rank;
        this.lastStage = spec.numStages() - 1;
        this.lastRank = spec.rankOf(lastStage);
        this.channel = channel;
        this.timing = timing;
    }

    /**
     * Starts {@code step}: rank 0 splits and sends {@code miniBatchOrNull}; the other ranks receive the header.
     *
     * @throws IllegalStateException if a received header announces a size the micro-batches cannot split
     */
    void begin(long step, DataSet miniBatchOrNull) {
        this.step = step;
        features.clear();
        featuresMasks.clear();
        labels.clear();
        labelsMasks.clear();
        if (rank == 0) {
            distribute(miniBatchOrNull);
        } else {
            receiveHeader();
        }
    }

    /** Examples in this step's mini-batch. */
    int examples() {
        return examples;
    }

    /** Stage 0's input of micro-batch {@code mb} (rank 0 only). */
    INDArray features(int mb) {
        return features.get(mb);
    }

    /** The features mask of micro-batch {@code mb}, or null without one; received from rank 0 on first use. */
    INDArray featuresMask(int mb) {
        if (!hasFeaturesMask) {
            return null;
        }
        INDArray m = featuresMasks.get(mb);
        if (m == null) {
            m = channel.receive(0, new TensorKey(FrameType.FEATURES_MASK, step, mb, 0, firstStage(rank)));
            featuresMasks.put(mb, m);
        }
        return m;
    }

    /** The labels of micro-batch {@code mb}, for the last stage; hand them to {@link #release} after use. */
    INDArray labels(int mb) {
        INDArray y = labels.remove(mb);
        return y != null ? y : channel.receive(0, new TensorKey(FrameType.LABELS, step, mb, 0, lastStage));
    }

    /** The labels mask of micro-batch {@code mb}, or null without one. */
    INDArray labelsMask(int mb) {
        if (!hasLabelsMask) {
            return null;
        }
        INDArray m = labelsMasks.remove(mb);
        return m != null ? m : channel.receive(0, new TensorKey(FrameType.LABEL_MASK, step, mb, 0, lastStage));
    }

    /** The last stage is done with labels from {@link #labels}: received ones go back to the channel. */
    void release(INDArray labelsOfMicroBatch) {
        if (lastRank != 0) {
            channel.recycle(labelsOfMicroBatch);
        }
    }

    private void distribute(DataSet ds) {
        int m = spec.microBatches();
        examples = ds.numExamples();
        int size = examples / m;
        hasFeaturesMask = ds.getFeaturesMaskArray() != null;
        hasLabelsMask = ds.getLabelsMaskArray() != null;
        for (int r = 1; r < spec.devices(); r++) {
            INDArray header = Nd4j.createFromArray((double) examples, hasFeaturesMask ? 1 : 0, hasLabelsMask ? 1 : 0);
            channel.send(r, new TensorKey(FrameType.CONTROL, step, CONTROL_HEADER, 0, firstStage(r)), header);
        }
        for (int i = 0; i < m; i++) {
            long t0 = System.nanoTime();
            features.add(rows(ds.getFeatures(), i * size, size));
            INDArray y = rows(ds.getLabels(), i * size, size);
            INDArray fm = hasFeaturesMask ? rows(ds.getFeaturesMaskArray(), i * size, size) : null;
            INDArray lm = hasLabelsMask ? rows(ds.getLabelsMaskArray(), i * size, size) : null;
            if (fm != null) {
                featuresMasks.put(i, fm);
                for (int r = 1; r < spec.devices(); r++) {
                    channel.send(r, new TensorKey(FrameType.FEATURES_MASK, step, i, 0, firstStage(r)), fm);
                }
            }
            if (lastRank == 0) {
                labels.put(i, y);
                if (lm != null) {
                    labelsMasks.put(i, lm);
                }
            } else {
                channel.send(lastRank, new TensorKey(FrameType.LABELS, step, i, 0, lastStage), y);
                if (lm != null) {
                    channel.send(lastRank, new TensorKey(FrameType.LABEL_MASK, step, i, 0, lastStage), lm);
                }
            }
            timing.event(0, ActionEvent.LOAD, i, t0, System.nanoTime());
        }
    }

    private void receiveHeader() {
        INDArray h = channel.receive(0, new TensorKey(FrameType.CONTROL, step, CONTROL_HEADER, 0, firstStage(rank)));
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

    private static INDArray rows(INDArray a, long from, long count) {
        INDArrayIndex[] idx = new INDArrayIndex[a.rank()];
        idx[0] = NDArrayIndex.interval(from, from + count);
        for (int i = 1; i < idx.length; i++) {
            idx[i] = NDArrayIndex.all();
        }
        return a.get(idx).dup('c');
    }
}
