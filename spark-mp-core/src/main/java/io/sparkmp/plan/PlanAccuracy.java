package io.sparkmp.plan;

import java.io.Serializable;
import java.util.Locale;

/**
 * Predicted versus measured step time of a plan, for reports and for calibrating the cost model.
 *
 * @param predictedSeconds the plan's predicted step time
 * @param measuredSeconds the measured step time (e.g. median over steps after warm-up)
 */
public record PlanAccuracy(double predictedSeconds, double measuredSeconds) implements Serializable {

    private static final long serialVersionUID = 1L;

    public PlanAccuracy {
        if (!(predictedSeconds >= 0) || Double.isInfinite(predictedSeconds)) {
            throw new IllegalArgumentException("predictedSeconds must be finite and >= 0, found " + predictedSeconds);
        }
        if (!(measuredSeconds > 0) || Double.isInfinite(measuredSeconds)) {
            throw new IllegalArgumentException("measuredSeconds must be finite and positive, found " + measuredSeconds);
        }
    }

    /** Compares {@code plan}'s predicted step time with a measured one. */
    public static PlanAccuracy of(PipelinePlan plan, double measuredStepSeconds) {
        return new PlanAccuracy(plan.predictedStepSeconds(), measuredStepSeconds);
    }

    /** (predicted - measured) / measured * 100: negative when the plan was optimistic. */
    public double errorPercent() {
        return (predictedSeconds - measuredSeconds) / measuredSeconds * 100;
    }

    /** measured / predicted: the factor to scale predictions by. */
    public double ratio() {
        return measuredSeconds / Math.max(predictedSeconds, Double.MIN_NORMAL);
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "step time predicted %.4f s, measured %.4f s, error %+.1f%%",
                predictedSeconds, measuredSeconds, errorPercent());
    }
}
