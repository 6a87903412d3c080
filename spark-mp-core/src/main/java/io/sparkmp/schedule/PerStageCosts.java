package io.sparkmp.schedule;

import java.util.Arrays;

/** See {@link ActionCosts#perStage}. */
record PerStageCosts(double[] forward, double[] backward, double[] sendTime) implements ActionCosts {
    @Override
    public double duration(Action action) {
        int s = action.stage();
        if (s >= forward.length) {
            throw new IllegalArgumentException("no cost for " + action + ": costs cover stages 0.."
                    + (forward.length - 1));
        }
        return switch (action.type()) {
            case FORWARD -> forward[s];
            case BACKWARD -> backward[s];
            case BACKWARD_INPUT, BACKWARD_WEIGHT -> throw new IllegalArgumentException(
                    "no cost for split backward action " + action);
            default -> 0;
        };
    }

    @Override
    public double latency(int fromStage, int toStage) {
        if (Math.abs(fromStage - toStage) != 1) {
            throw new IllegalArgumentException("stages " + fromStage + " and " + toStage + " are not neighbours");
        }
        int link = Math.min(fromStage, toStage);
        if (link >= sendTime.length) {
            throw new IllegalArgumentException("no send time for link " + fromStage + "->" + toStage
                    + ": costs cover stages 0.." + (forward.length - 1));
        }
        return sendTime[link];
    }

    @Override
    public String toString() {
        return "PerStageCosts[forward=" + Arrays.toString(forward) + ", backward=" + Arrays.toString(backward)
                + ", sendTime=" + Arrays.toString(sendTime) + "]";
    }
}
