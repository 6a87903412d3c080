package io.sparkmp.plan;

import io.sparkmp.schedule.Action;
import io.sparkmp.schedule.ActionCosts;
import io.sparkmp.schedule.ControlTraffic;
import io.sparkmp.schedule.Schedule;
import io.sparkmp.schedule.ScheduleSimulator;
import io.sparkmp.schedule.SimulationResult;

/**
 * A plan's predicted step, action by action: the schedule the runtime runs (the plan's compute schedule
 * with its communication actions) simulated with the plan's own per-stage costs, in seconds. F and B take
 * the stage's forward and backward (recomputation included), a SEND the bytes it puts on the link over the
 * plan's bandwidth, STEP the stage's optimizer step; each message then takes the link's latency. This is the
 * planner's simulation with the wire time shown on the sends instead of folded into F and B, so its
 * makespan is the plan's pipeline time.
 */
public final class PredictedTimeline {

    /** Larger schedules are not simulated (the planner uses its closed form for them too). */
    static final long MAX_ACTIONS = 1_000_000;

    private PredictedTimeline() {
    }

    /**
     * The simulated step of {@code plan}, or null when its schedule has more than {@value #MAX_ACTIONS} actions.
     *
     * @throws IllegalArgumentException if {@code plan} is null
     */
    public static SimulationResult of(PipelinePlan plan) {
        if (plan == null) {
            throw new IllegalArgumentException("plan must not be null");
        }
        int k = plan.numStages();
        if (4L * k * plan.microBatches() > MAX_ACTIONS) {
            return null;
        }
        Schedule schedule = ControlTraffic.lowered(plan.schedule(), plan.devices(), plan.microBatches(),
                plan.stagesPerDevice());
        return ScheduleSimulator.simulate(schedule, new PlanCosts(plan));
    }

    /** Per-action device time and per-link latency read back from the plan's stages. */
    private static final class PlanCosts implements ActionCosts {
        private final PipelinePlan plan;
        private final double bandwidth;
        private final double[] update;
        private final double[] latency;

        PlanCosts(PipelinePlan plan) {
            this.plan = plan;
            this.bandwidth = plan.bandwidthBytesPerSecond();
            int k = plan.numStages();
            update = new double[k];
            latency = new double[Math.max(0, k - 1)];
            for (int s = 0; s < k; s++) {
                StagePlan st = plan.stage(s);
                // timeSeconds = forward + backward + sends + update / M: the update is what is left over.
                double perMicroBatch = st.timeSeconds() - st.forwardSeconds() - st.backwardSeconds() - st.sendSeconds();
                update[s] = Math.max(0, perMicroBatch * plan.microBatches());
                if (s + 1 < k) {
                    // sendSeconds = per message (latency + bytes / bandwidth) for each neighbour.
                    int links = s > 0 ? 2 : 1;
                    double wire = (st.bytesSentForward() + st.bytesSentBackward()) / bandwidth;
                    latency[s] = Math.max(0, (st.sendSeconds() - wire) / links);
                }
            }
        }

        @Override
        public double duration(Action a) {
            StagePlan st = plan.stage(a.stage());
            return switch (a.type()) {
                case FORWARD -> st.forwardSeconds();
                case BACKWARD -> st.backwardSeconds();
                case SEND_F -> st.bytesSentForward() / bandwidth;
                case SEND_B -> st.bytesSentBackward() / bandwidth;
                case STEP -> update[a.stage()];
                default -> 0;
            };
        }

        @Override
        public double latency(int fromStage, int toStage) {
            return latency[Math.min(fromStage, toStage)];
        }
    }
}
