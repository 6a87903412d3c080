package io.sparkmp.ml;

import io.sparkmp.plan.PipelinePlan;
import io.sparkmp.plan.StagePlan;

import java.io.Serializable;

/**
 * What a fit's plan says about running the trained model forward only: the parameter bytes of the whole model
 * plus the largest stage's working memory, against one device's budget. {@code transformMode = auto} runs the
 * model per partition when it fits one device (or the split has one stage), pipelined otherwise.
 *
 * @param devices the trained split's ranks P
 * @param inferenceBytes every stage's parameters plus the largest single-layer working memory of one micro-batch
 * @param budgetBytes the planner's memory budget per device
 */
record ModelFit(int devices, long inferenceBytes, long budgetBytes) implements Serializable {

    static ModelFit of(PipelinePlan plan) {
        long params = 0;
        long working = 0;
        for (StagePlan s : plan.stages()) {
            params += s.memory().parameterBytes();
            working = Math.max(working, s.memory().workingBytes());
        }
        return new ModelFit(plan.devices(), params + working, plan.budgetBytes());
    }

    /** Whether the whole model runs in one task (see the class comment). */
    boolean fitsOneDevice() {
        return devices == 1 || inferenceBytes <= budgetBytes;
    }
}
