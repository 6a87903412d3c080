package io.sparkmp.spark;

import java.io.Serializable;

/**
 * Physical memory of one rank's process in one sampled step (javacpp's resident bytes; see
 * {@link PeakMemorySampler}).
 *
 * @param rank the device (task) index
 * @param startBytes resident bytes when the rank's task started, before it built its layers
 * @param peakBytes peak resident bytes during the step
 */
public record RankMemory(int rank, long startBytes, long peakBytes) implements Serializable {
}
