package io.sparkmp.spark;

import io.sparkmp.plan.PipelinePlan;
import io.sparkmp.plan.PlanAccuracy;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

import java.util.Arrays;
import java.util.List;

/**
 * What {@link PipelineTrainer#fit} returns.
 *
 * @param network the trained model, assembled on the driver from the stages' per-layer parameters
 * @param metrics one record per optimizer step, in step order
 * @param examplesPerEpoch examples stage 0 read in one epoch
 * @param droppedPerEpoch examples of the partial last mini-batch, not trained on
 * @param trainingSeconds wall time of the barrier job (data routing included)
 * @param plan the plan the run followed (null when made without one)
 * @param planAccuracy the plan's predicted step time next to the measured {@link #medianStepSeconds()}; null
 *     without a plan or steps
 */
public record TrainingResult(MultiLayerNetwork network, List<StepReport> metrics, long examplesPerEpoch,
                             long droppedPerEpoch, double trainingSeconds, PipelinePlan plan,
                             PlanAccuracy planAccuracy) {
    public TrainingResult {
        metrics = List.copyOf(metrics);
    }

    /** A result without a plan. */
    public TrainingResult(MultiLayerNetwork network, List<StepReport> metrics, long examplesPerEpoch,
                          long droppedPerEpoch, double trainingSeconds) {
        this(network, metrics, examplesPerEpoch, droppedPerEpoch, trainingSeconds, null, null);
    }

    /**
     * Per pipeline device, the plan's memory estimate next to the peak resident bytes its process reached over
     * the first steps and the resident bytes when its task started; empty without a plan or memory samples.
     */
    public List<StageMemoryUse> stageMemory() {
        return StageMemoryUse.of(plan, metrics);
    }

    /** Trained examples per second over the whole job (data routing and start-up included). */
    public double samplesPerSecond() {
        long trained = 0;
        for (StepReport r : metrics) {
            trained += r.examples();
        }
        return trainingSeconds > 0 ? trained / trainingSeconds : Double.NaN;
    }

    /**
     * Median wall time of one optimizer step (the slowest rank's), leaving out the first step when there are
     * more (it pays warm-up: JIT, first allocations, connection set-up); NaN without steps.
     */
    public double medianStepSeconds() {
        if (metrics.isEmpty()) {
            return Double.NaN;
        }
        double[] t = metrics.stream().skip(metrics.size() > 1 ? 1 : 0).mapToDouble(StepReport::stepSeconds).toArray();
        Arrays.sort(t);
        return t.length % 2 == 1 ? t[t.length / 2] : (t[t.length / 2 - 1] + t[t.length / 2]) / 2;
    }
}
