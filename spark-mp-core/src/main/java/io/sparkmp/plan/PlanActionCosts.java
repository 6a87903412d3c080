package io.sparkmp.plan;

import io.sparkmp.schedule.Action;
import io.sparkmp.schedule.ActionCosts;

/**
 * Per-action device time and per-link latency of a plan, for simulating the schedule the runtime executes. F
 * and B take the stage's forward and backward (recomputation included), except on the last stage, where the
 * runtime's F only keeps the micro-batch's input and its B runs the forward, the loss and the backward together
 * (DL4J's {@code calculateGradients}): there F takes nothing and B both. Under 1F1B, where the last stage runs
 * each B right after its F, that changes nothing; under GPipe the last stage starts computing only when the
 * first backward is due. Without measured
 * {@link RuntimeCosts}: a SEND takes the bytes it puts on the link over the plan's bandwidth, each message the
 * link's latency, STEP the stage's optimizer step, and LOAD, SEND_L and LOSS nothing. With them: a SEND takes
 * the measured sender's time for its bytes, a message the measured latency for its bytes, LOAD the measured
 * cost of the micro-batch's examples, SEND_L a message's fixed sender time (labels are small), and STEP the
 * optimizer step plus the measured per-step overhead. The weight-gradient products a stage defers to the end of a
 * step ({@link StagePlan#deferredSeconds}) run in its STEP, M micro-batches' worth, and not in its Bs. With R &gt; 1 replicas, the stage's per-layer all-reduce
 * runs beside its last backward ({@link StagePlan#allReduces()}, on one thread per device), and ALLREDUCE
 * takes no device time of its own: it waits, idle, for what of the sums outlasts the backward. Devices that share a
 * host slow each other down as the plan's {@link PipelinePlan#hostSharing()} says.
 */
final class PlanActionCosts implements ActionCosts {
    private final PipelinePlan plan;
    private final RuntimeCosts rc;
    private final double bandwidth;
    private final double[] update;
    private final double[] latency;

    PlanActionCosts(PipelinePlan plan) {
        this.plan = plan;
        this.rc = plan.runtimeCosts();
        this.bandwidth = plan.bandwidthBytesPerSecond();
        int k = plan.numStages();
        update = new double[k];
        latency = new double[Math.max(0, k - 1)];
        for (int s = 0; s < k; s++) {
            StagePlan st = plan.stage(s);
            // timeSeconds = forward + backward + sends + update / M: the update is what is left over.
            double perMicroBatch = st.timeSeconds() - st.forwardSeconds() - st.backwardSeconds() - st.sendSeconds();
            // The deferred weight-gradient products run at the STEP, over the step's rows, not in each B.
            update[s] = Math.max(0, perMicroBatch * plan.microBatches()) + rc.stepSeconds()
                    + st.deferredSeconds() * plan.microBatches();
            if (s + 1 < k) {
                if (rc.measured()) {
                    latency[s] = rc.latency(st.bytesSentForward());
                } else {
                    // sendSeconds = per message (latency + bytes / bandwidth) for each neighbour.
                    int links = s > 0 ? 2 : 1;
                    double wire = (st.bytesSentForward() + st.bytesSentBackward()) / bandwidth;
                    latency[s] = Math.max(0, (st.sendSeconds() - wire) / links);
                }
            }
        }
    }

    @Override
    public double duration(Action a) {
        StagePlan st = plan.stage(a.stage());
        boolean last = a.stage() == plan.numStages() - 1;
        return switch (a.type()) {
            // The last stage's forward only keeps its input: the runtime runs it with the loss and the backward.
            case FORWARD -> last ? 0 : st.forwardSeconds();
            case BACKWARD -> (last ? st.forwardSeconds() : 0) + st.backwardSeconds() - st.deferredSeconds();
            case SEND_F -> send(st.bytesSentForward());
            case SEND_B -> send(st.bytesSentBackward());
            case STEP -> update[a.stage()];
            case LOAD -> rc.load(plan.microBatchSize());
            case SEND_L -> rc.sendSeconds();
            // The sums run beside the backward (allReduceAfterLastBackward): ALLREDUCE itself only waits.
            case ALLREDUCE -> 0;
            default -> 0;
        };
    }

    private double send(long bytes) {
        return rc.measured() ? rc.send(bytes) : bytes / bandwidth;
    }

    @Override
    public java.util.List<io.sparkmp.schedule.LayerAllReduce> layerAllReduces(int stage) {
        return plan.replicas() <= 1 ? null : plan.stage(stage).allReduces();
    }

    @Override
    public io.sparkmp.schedule.HostSharing hostSharing() {
        return plan.hostSharing();
    }

    @Override
    public double latency(int fromStage, int toStage) {
        return latency[Math.min(fromStage, toStage)];
    }
}
