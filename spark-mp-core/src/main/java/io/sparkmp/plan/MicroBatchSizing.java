package io.sparkmp.plan;

import java.util.Locale;

/**
 * How the batch size meets the memory budget, for the planner's errors. The planner already sizes M: every M
 * dividing the batch is a candidate and the fastest plan that fits wins (more micro-batches hold fewer
 * examples per stage, since a stage keeps activations only for its micro-batches in flight). When nothing
 * fits, this says why in the batch's terms: with M fixed, whether a free M would fit (and which the planner
 * picks); otherwise that no M fits, with the bytes each example of a micro-batch costs and the budget.
 */
final class MicroBatchSizing {

    private MicroBatchSizing() {
    }

    /**
     * Bytes one more example in a micro-batch adds to the stage of layer {@code i} alone (one micro-batch in
     * flight): activations kept, working memory and receive buffers.
     */
    static long bytesPerExample(ModelProfile profile, int i, boolean recompute, double bandwidth, double latency) {
        StageCostModel one = new StageCostModel(profile, 1, bandwidth, latency, recompute, 0, 2);
        StageCostModel two = new StageCostModel(profile, 2, bandwidth, latency, recompute, 0, 2);
        return two.memory(i, i + 1, 1, Long.MAX_VALUE).totalBytes() - one.memory(i, i + 1, 1, Long.MAX_VALUE).totalBytes();
    }

    /**
     * The reason a batch of {@code batchSize} fits no plan, to append to the planner's message.
     *
     * @param freeM the plan with M left to the planner when M was fixed and that plan exists; else null
     * @param microBatchesOrNull the fixed M, or null when the planner tried every M
     */
    static String explain(ModelProfile profile, long budget, int batchSize, Integer microBatchesOrNull, PipelinePlan freeM,
                          boolean recompute, double bandwidth, double latency) {
        if (microBatchesOrNull != null && freeM != null) {
            return String.format(Locale.ROOT, "; batch %d fits with %d micro-batches of %d (the planner's choice when "
                            + "microBatches is not set) but not with microBatches = %d",
                    batchSize, freeM.microBatches(), freeM.microBatchSize(), microBatchesOrNull);
        }
        int worst = 0;
        long perExample = -1;
        for (int i = 0; i < profile.layerCount(); i++) {
            long e = bytesPerExample(profile, i, recompute, bandwidth, latency);
            if (e > perExample) {
                perExample = e;
                worst = i;
            }
        }
        StageCostModel one = new StageCostModel(profile, 1, bandwidth, latency, recompute, 0, 2);
        long fixed = one.memory(worst, worst + 1, 1, budget).totalBytes() - perExample;
        String head = microBatchesOrNull == null
                ? String.format(Locale.ROOT, "; batch %d fits at no number of micro-batches (every M dividing it tried, "
                        + "down to micro-batches of 1)", batchSize)
                : String.format(Locale.ROOT, "; batch %d fits at no number of micro-batches either", batchSize);
        return head + String.format(Locale.ROOT, ": each example of a micro-batch needs at least %s (%d bytes) on the "
                        + "stage that holds layer %d '%s' (the most of any layer), on top of %s fixed, against a budget of %s (%d bytes) "
                        + "per device", PipelinePlan.bytes(perExample), perExample, worst, profile.layer(worst).name(),
                PipelinePlan.bytes(Math.max(0, fixed)), PipelinePlan.bytes(budget), budget);
    }
}
