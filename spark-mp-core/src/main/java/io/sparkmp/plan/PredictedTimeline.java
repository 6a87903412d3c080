package io.sparkmp.plan;

import io.sparkmp.schedule.ControlTraffic;
import io.sparkmp.schedule.Schedule;
import io.sparkmp.schedule.ScheduleSimulator;
import io.sparkmp.schedule.SimulationResult;

/**
 * A plan's predicted step, action by action: the schedule the runtime runs (the plan's compute schedule
 * with its communication and control actions) simulated with the plan's own costs ({@link PlanActionCosts}),
 * in seconds. This is the planner's own simulation, so its makespan is the plan's pipeline time.
 */
@io.sparkmp.Internal
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
                plan.stagesPerDevice(), plan.replicas());
        return ScheduleSimulator.simulate(schedule, new PlanActionCosts(plan));
    }
}
