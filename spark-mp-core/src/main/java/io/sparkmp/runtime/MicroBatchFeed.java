package io.sparkmp.runtime;

import java.util.HashMap;
import java.util.Map;

import io.sparkmp.transport.FrameType;
import io.sparkmp.transport.TensorKey;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The training rows of one step as a rank's stages see them. On rank 0 (stage 0): the step header (mini-batch
 * size, which masks exist) sent to every other rank when the step begins; then each micro-batch is read from
 * the {@link MiniBatch} only when it is loaded ({@link #load}, or on first use by stage 0's forward): its
 * features for stage 0, its features mask to every other rank and its labels (and labels mask) to the last
 * stage's rank. So rank 0 never holds the whole mini-batch, only the micro-batches in flight. On the other
 * ranks: the header received, and the masks and labels received when a stage first asks for them.
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
    private final Map<Integer, INDArray> features = new HashMap<>();
    private final Map<Integer, INDArray> featuresMasks = new HashMap<>();
    private final Map<Integer, INDArray> labels = new HashMap<>();
    private final Map<Integer, INDArray> labelsMasks = new HashMap<>();
    private MiniBatch source;
    private boolean[] loaded = new boolean[0];
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
     * Starts {@code step}: rank 0 sends the header of {@code miniBatchOrNull} (its rows are read per
     * micro-batch later); the other ranks receive the header.
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
            announce(miniBatchOrNull);
        } else {
            receiveHeader();
        }
    }

    /** Examples in this step's mini-batch. */
    int examples() {
        return examples;
    }

    /**
     * Rank 0: reads micro-batch {@code mb}'s rows and sends its labels and masks to the ranks that need them
     * (once per step; later calls do nothing). Called by stage 0's first use of the micro-batch at the latest.
     */
    void load(int mb) {
        if (rank != 0) {
            throw new IllegalStateException("rank " + rank + " does not read data; only rank 0 loads micro-batches");
        }
        if (loaded[mb]) {
            return;
        }
        loaded[mb] = true;
        long t0 = System.nanoTime();
        int size = examples / spec.microBatches();
        int from = mb * size;
        features.put(mb, source.features(from, size));
        INDArray y = source.labels(from, size);
        INDArray fm = hasFeaturesMask ? source.featuresMask(from, size) : null;
        INDArray lm = hasLabelsMask ? source.labelsMask(from, size) : null;
        if (fm != null) {
            featuresMasks.put(mb, fm);
            for (int r = 1; r < spec.devices(); r++) {
                channel.send(r, new TensorKey(FrameType.FEATURES_MASK, step, mb, 0, firstStage(r)), fm);
            }
        }
        if (lastRank == 0) {
            labels.put(mb, y);
            if (lm != null) {
                labelsMasks.put(mb, lm);
            }
        } else {
            channel.send(lastRank, new TensorKey(FrameType.LABELS, step, mb, 0, lastStage), y);
            if (lm != null) {
                channel.send(lastRank, new TensorKey(FrameType.LABEL_MASK, step, mb, 0, lastStage), lm);
            }
        }
        timing.event(0, ActionEvent.LOAD, mb, t0, System.nanoTime());
    }

    /**
     * Stage 0's input of micro-batch {@code mb} (rank 0 only), loaded now if it was not; the feed keeps no
     * reference to it afterwards (the stage holds it until the micro-batch's backward).
     */
    INDArray features(int mb) {
        load(mb);
        INDArray x = features.remove(mb);
        if (x == null) {
            throw new IllegalStateException("the features of micro-batch " + mb + " of step " + step + " were already taken");
        }
        return x;
    }

    /** The features mask of micro-batch {@code mb}, or null without one; received from rank 0 on first use. */
    INDArray featuresMask(int mb) {
        if (!hasFeaturesMask) {
            return null;
        }
        if (rank == 0) {
            load(mb);
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
        if (rank == 0) {
            load(mb);
        }
        INDArray y = labels.remove(mb);
        return y != null ? y : channel.receive(0, new TensorKey(FrameType.LABELS, step, mb, 0, lastStage));
    }

    /** The labels mask of micro-batch {@code mb}, or null without one. */
    INDArray labelsMask(int mb) {
        if (!hasLabelsMask) {
            return null;
        }
        if (rank == 0) {
            load(mb);
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

    /** Micro-batches whose rows the feed holds now (read, not yet taken by the stages). */
    int heldMicroBatches() {
        return features.size() + labels.size();
    }

    private void announce(MiniBatch mb) {
        source = mb;
        examples = mb.examples();
        hasFeaturesMask = mb.hasFeaturesMask();
        hasLabelsMask = mb.hasLabelsMask();
        loaded = new boolean[spec.microBatches()];
        for (int r = 1; r < spec.devices(); r++) {
            INDArray header = Nd4j.createFromArray((double) examples, hasFeaturesMask ? 1 : 0, hasLabelsMask ? 1 : 0);
            channel.send(r, new TensorKey(FrameType.CONTROL, step, CONTROL_HEADER, 0, firstStage(r)), header);
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
}
