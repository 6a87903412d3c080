package io.sparkmp.model;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

/**
 * A {@link MultiLayerNetwork} holding a contiguous slice of a model. It differs from its parent in one
 * point: the micro-batch size can be pinned. A slice that starts inside a time-distributed block receives
 * 2d activations of {@code examples * T} rows, and DL4J would take that row count as the mini-batch
 * size for its {@code FeedForwardToRnnPreProcessor}s.
 */
final class SliceNetwork extends MultiLayerNetwork {

    private static final long serialVersionUID = 1L;

    private int pinnedMiniBatchSize = -1;

    SliceNetwork(MultiLayerConfiguration conf) {
        super(conf);
    }

    /** Pins the number of examples DL4J assumes for the next passes; {@code -1} unpins. */
    void pinMiniBatchSize(int examples) {
        this.pinnedMiniBatchSize = examples;
        if (examples > 0) {
            super.setInputMiniBatchSize(examples);
        }
    }

    @Override
    public int getInputMiniBatchSize() {
        return pinnedMiniBatchSize > 0 ? pinnedMiniBatchSize : super.getInputMiniBatchSize();
    }

    @Override
    public void setInputMiniBatchSize(int size) {
        super.setInputMiniBatchSize(pinnedMiniBatchSize > 0 ? pinnedMiniBatchSize : size);
    }

    /** Copies the network's iteration and epoch counts into its layers (dropout schedules read them). */
    void syncCounts() {
        synchronizeIterEpochCounts();
    }
}
