package io.sparkmp.schedule;

/**
 * The rules between a pipeline's counts, each stated once with one message, so the trainer's builder, the
 * planner, the runtime's spec and the schedule generator reject the same values with the same words.
 */
@io.sparkmp.Internal
public final class PipelineRules {

    private PipelineRules() {
    }

    /** {@code name must be positive, found 0}. */
    public static void requirePositive(String name, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException(name + " must be positive, found " + value);
        }
    }

    /** Virtual stages need the interleaved schedule (interleaved itself accepts any v >= 1). */
    public static void requireStagesPerDevice(ScheduleKind kind, int stagesPerDevice) {
        if (kind != ScheduleKind.INTERLEAVED_1F1B && stagesPerDevice != 1) {
            throw new IllegalArgumentException("stagesPerDevice (" + stagesPerDevice + ") > 1 needs schedule "
                    + ScheduleKind.INTERLEAVED_1F1B.label() + ", found " + kind.label());
        }
    }

    /** All micro-batches of a mini-batch have the same size. */
    public static void requireMicroBatchesDivide(int microBatches, int batchSize) {
        if (batchSize % microBatches != 0) {
            throw new IllegalArgumentException("microBatches (" + microBatches + ") must divide batchSize ("
                    + batchSize + ")");
        }
    }

    /**
     * Every replica trains {@code batchSize / replicas} examples of each mini-batch, cut into {@code microBatches}
     * equal micro-batches.
     */
    public static void requireReplicasDivide(int replicas, int microBatches, int batchSize) {
        if (replicas == 1) {
            requireMicroBatchesDivide(microBatches, batchSize);
        } else if (batchSize % ((long) replicas * microBatches) != 0) {
            throw new IllegalArgumentException("replicas x microBatches (" + replicas + " x " + microBatches + " = "
                    + (long) replicas * microBatches + ") must divide batchSize (" + batchSize + ")");
        }
    }

    /** Interleaved 1F1B runs the micro-batches in rounds of one per device. */
    public static void requireInterleavedRounds(ScheduleKind kind, int microBatches, int devices) {
        if (kind == ScheduleKind.INTERLEAVED_1F1B && microBatches % devices != 0) {
            throw new IllegalArgumentException("interleaved needs microBatches (" + microBatches
                    + ") to be a multiple of stages (" + devices + ")");
        }
    }

    /** Every (virtual) stage holds at least one layer. */
    public static void requireLayersPerStage(int stages, int stagesPerDevice, int layers) {
        if ((long) stages * stagesPerDevice > layers) {
            throw new IllegalArgumentException("stages x stagesPerDevice (" + stages + " x " + stagesPerDevice + " = "
                    + (long) stages * stagesPerDevice + ") must not exceed the model's layers (" + layers + ")");
        }
    }
}
