package io.sparkmp.model;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;

/**
 * The {@link ComputationGraph} of one graph stage: its vertices, with the tensors it receives as network inputs.
 * It differs from its parent in one point: the micro-batch size is pinned. DL4J's preprocessors inside a
 * LayerVertex ask the graph for the batch size, which it reads from the first network input; a stage whose first
 * input is a time-distributed [examples * T, n] activation would give the wrong count.
 */
final class GraphStageNetwork extends ComputationGraph {

    private static final long serialVersionUID = 1L;

    private int pinnedBatchSize = -1;

    GraphStageNetwork(ComputationGraphConfiguration conf) {
        super(conf);
    }

    void pinBatchSize(int examples) {
        this.pinnedBatchSize = examples;
    }

    @Override
    public int batchSize() {
        return pinnedBatchSize > 0 ? pinnedBatchSize : super.batchSize();
    }

    /** Copies the graph's iteration and epoch counts into its layers (schedules read them). */
    void syncCounts() {
        synchronizeIterEpochCounts();
    }
}
