package io.sparkmp.runtime;

import java.util.Collection;

import io.sparkmp.model.StageSlice;
import io.sparkmp.transport.FrameType;
import io.sparkmp.transport.TensorKey;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * DL4J's score of one step, reduced on the last stage's rank (the LOSS action): the summed loss of its
 * micro-batches over the mini-batch's examples, plus the L1/L2 terms of every rank's layers taken before the
 * update. The terms are summed along the pipeline at the start of the step: rank r adds its own to the sum it
 * receives from rank r - 1 and sends the result to rank r + 1, so rank P - 1 (which holds the last stage) ends
 * with the total and no rank links to a rank that is not its neighbour. With data-parallel replicas the last
 * stages' loss sums are added across the replicas (the ring all-reduce, a fixed order) and divided by the whole
 * mini-batch; the L1/L2 terms, equal on every replica, count once.
 */
final class LossReduction {

    /** Micro-batch field of the regularization term's control key. */
    static final int CONTROL_REGULARIZATION = 1;

    private final PipelineSpec spec;
    private final int rank;
    private final int lastStage;
    private final StepChannel channel;
    private final io.sparkmp.transport.RingAllReduce replicasOrNull;
    private double regularization;

    /** @param replicasOrNull the ring of this rank's device across the replicas, or null with one replica */
    LossReduction(PipelineSpec spec, int rank, StepChannel channel, io.sparkmp.transport.RingAllReduce replicasOrNull) {
        this.spec = spec;
        this.rank = rank;
        this.lastStage = spec.numStages() - 1;
        this.channel = channel;
        this.replicasOrNull = replicasOrNull;
    }

    /** This rank's L1/L2 terms of {@code step}, before its update, added to the sum of the ranks before it. */
    void shareRegularization(long step, double localRegularization) {
        double sum = localRegularization;
        if (rank > 0) {
            sum += channel.receive(rank - 1, key(step, rank - 1)).getDouble(0);
        }
        if (rank + 1 < spec.devices()) {
            channel.send(rank + 1, key(step, rank), Nd4j.scalar(DataType.DOUBLE, sum).reshape(1));
        }
        regularization = sum;
    }

    /**
     * The LOSS action: the step's score, on the last stage's rank after its last backward.
     *
     * @param step the step (keys of the replicas' sum)
     * @param examples examples this replica trained in the step (the whole mini-batch is R times as many)
     */
    double loss(Collection<StageSlice> slices, long step, int examples) {
        if (spec.rankOf(lastStage) != rank) {
            throw new IllegalStateException("LOSS on rank " + rank + ": the last stage runs on rank " + spec.rankOf(lastStage));
        }
        double sum = 0;
        for (StageSlice s : slices) {
            sum += s.lossSum();
        }
        if (replicasOrNull != null) {
            INDArray total = Nd4j.createFromArray(sum);
            replicasOrNull.sumInPlace(total, step, spec.numStages()); // tag: past every stage's gradient tag
            return total.getDouble(0) / ((double) examples * spec.replicas()) + regularization;
        }
        return sum / examples + regularization;
    }

    /** The key of the L1/L2 sum rank {@code from} sends to rank {@code from + 1}. */
    private static TensorKey key(long step, int from) {
        return new TensorKey(FrameType.CONTROL, step, CONTROL_REGULARIZATION, MicroBatchFeed.firstStage(from),
                MicroBatchFeed.firstStage(from + 1));
    }
}
