package io.sparkmp.runtime;

import java.util.Collection;

import io.sparkmp.model.StageSlice;
import io.sparkmp.transport.FrameType;
import io.sparkmp.transport.TensorKey;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/**
 * DL4J's score of one step, reduced on the last stage's rank: the summed loss of its micro-batches over the
 * mini-batch's examples, plus the L1/L2 terms of every rank's layers taken before the update. Every other
 * rank sends its terms at the start of the step.
 */
final class LossReduction {

    /** Micro-batch field of the regularization term's control key. */
    static final int CONTROL_REGULARIZATION = 1;

    private final PipelineSpec spec;
    private final int rank;
    private final int lastStage;
    private final StepChannel channel;
    private final StepTiming timing;
    private long step;
    private double ownRegularization;

    LossReduction(PipelineSpec spec, int rank, StepChannel channel, StepTiming timing) {
        this.spec = spec;
        this.rank = rank;
        this.lastStage = spec.numStages() - 1;
        this.channel = channel;
        this.timing = timing;
    }

    /** This rank's L1/L2 terms of {@code step}, before its update: kept, or sent to the last stage's rank. */
    void shareRegularization(long step, double localRegularization) {
        this.step = step;
        ownRegularization = localRegularization;
        int lastRank = spec.rankOf(lastStage);
        if (rank != lastRank) {
            channel.send(lastRank, new TensorKey(FrameType.CONTROL, step, CONTROL_REGULARIZATION,
                    MicroBatchFeed.firstStage(rank), lastStage), Nd4j.scalar(DataType.DOUBLE, localRegularization).reshape(1));
        }
    }

    /** The step's score, on the last stage's rank after its last backward; receives the other ranks' terms. */
    double loss(Collection<StageSlice> slices, int examples) {
        long t0 = System.nanoTime();
        double sum = 0;
        double regularization = 0;
        for (StageSlice s : slices) {
            sum += s.lossSum();
        }
        for (int r = 0; r < spec.devices(); r++) {
            if (r == rank) {
                continue;
            }
            regularization += channel.receive(r, new TensorKey(FrameType.CONTROL, step, CONTROL_REGULARIZATION,
                    MicroBatchFeed.firstStage(r), lastStage)).getDouble(0);
        }
        regularization += ownRegularization;
        double loss = sum / examples + regularization;
        timing.event(lastStage, ActionEvent.LOSS, ActionEvent.NO_MICRO_BATCH, t0, System.nanoTime());
        return loss;
    }
}
