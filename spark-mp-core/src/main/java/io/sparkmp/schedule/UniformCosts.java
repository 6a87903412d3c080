package io.sparkmp.schedule;

/** See {@link ActionCosts#uniform}. */
record UniformCosts(double forward, double backward, double comm) implements ActionCosts {
    @Override
    public double duration(Action action) {
        return switch (action.type()) {
            case FORWARD -> forward;
            case BACKWARD -> backward;
            case BACKWARD_INPUT, BACKWARD_WEIGHT -> throw new IllegalArgumentException(
                    "no cost for split backward action " + action);
            default -> 0;
        };
    }

    @Override
    public double latency(int fromStage, int toStage) {
        return comm;
    }
}

