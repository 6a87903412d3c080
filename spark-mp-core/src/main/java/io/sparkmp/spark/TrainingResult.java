package io.sparkmp.spark;

import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

import java.util.List;

/**
 * What {@link PipelineTrainer#fit} returns.
 *
 * @param network the trained model, assembled on the driver from the stages' per-layer parameters
 * @param metrics one record per optimizer step, in step order
 * @param examplesPerEpoch examples stage 0 read in one epoch
 * @param droppedPerEpoch examples of the partial last mini-batch, not trained on
 * @param trainingSeconds wall time of the barrier job (data routing included)
 */
public record TrainingResult(MultiLayerNetwork network, List<StepReport> metrics, long examplesPerEpoch,
                             long droppedPerEpoch, double trainingSeconds) {
    public TrainingResult {
        metrics = List.copyOf(metrics);
    }

    /** Trained examples per second over the whole job (data routing and start-up included). */
    public double samplesPerSecond() {
        long trained = 0;
        for (StepReport r : metrics) {
            trained += r.examples();
        }
        return trainingSeconds > 0 ? trained / trainingSeconds : Double.NaN;
    }
}
