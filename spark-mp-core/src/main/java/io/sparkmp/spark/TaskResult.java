package io.sparkmp.spark;

import io.sparkmp.runtime.RankTimeline;
import io.sparkmp.store.LayerEntry;

import java.io.Serializable;
import java.util.List;

/**
 * What one barrier task returns: the manifest entries of the layer files it wrote to the job's store (never
 * the layers themselves) and its per-step records.
 *
 * @param rank device index
 * @param layers one entry per layer with parameters of this rank, as written to the store
 * @param steps this rank's per-step records of the whole run, in step order: after a retry, the records of the
 *     steps before the checkpoint it resumed from are the earlier attempts' (kept with the checkpoint)
 * @param examples examples stage 0 read (0 on other ranks)
 * @param droppedExamples examples of the dropped partial last mini-batch (0 on other ranks)
 * @param iteration optimizer steps taken in all when training ended (counting steps before the start of a run
 *     that resumed from a store, which {@code steps} does not hold)
 * @param timelineOrNull this rank's recorded actions of the sampled steps, or null when the timeline is off
 * @param skippedSteps of the {@code iteration} steps, those every stage left out (non-finite gradient)
 */
record TaskResult(int rank, List<LayerEntry> layers, List<RankStep> steps, long examples, long droppedExamples,
                  long iteration, RankTimeline timelineOrNull, long skippedSteps) implements Serializable {
}
