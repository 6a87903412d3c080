package io.sparkmp.spark;

import io.sparkmp.plan.PipelinePlan;
import io.sparkmp.plan.PlanAccuracy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Ties a plan to a fit: the plan's choices as trainer settings, and the predicted-versus-measured report. */
final class PlanReport {
    private static final Logger LOG = LoggerFactory.getLogger(PipelineTrainer.class);

    private PlanReport() {
    }

    /** Stages, virtual stages, micro-batches and schedule as the plan fixed them. */
    static Map<ConfEntry<?>, Object> settingsOf(PipelinePlan plan) {
        Map<ConfEntry<?>, Object> s = new HashMap<>();
        s.put(SparkMpConf.STAGES, plan.devices());
        s.put(SparkMpConf.REPLICAS, plan.replicas());
        s.put(SparkMpConf.STAGES_PER_DEVICE, plan.stagesPerDevice());
        s.put(SparkMpConf.MICRO_BATCHES, plan.microBatches());
        s.put(SparkMpConf.SCHEDULE, plan.schedule());
        return s;
    }

    /** Logs the plan before a launch. */
    static void logPlan(PipelinePlan plan) {
        LOG.info("spark-mp: plan\n{}", plan.explain());
    }

    /** The result with its plan and the plan's accuracy against the measured median step, which is logged. */
    static TrainingResult attach(TrainingResult r, PipelinePlan plan) {
        double measured = r.medianStepSeconds();
        PlanAccuracy acc = measured > 0 ? PlanAccuracy.of(plan, measured) : null;
        if (acc != null) {
            LOG.info("spark-mp: median step over {} steps: {}", r.metrics().size(), acc);
        }
        List<StageMemoryUse> memory = StageMemoryUse.of(plan, r.metrics());
        if (!memory.isEmpty()) {
            LOG.info("spark-mp: memory per device, predicted vs measured (resident bytes, first steps)\n{}",
                    StageMemoryUse.table(memory));
        }
        return r.withPlan(plan, acc);
    }
}
