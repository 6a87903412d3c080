package io.sparkmp.spark;

import java.io.Serializable;
import java.util.List;
import java.util.Map;

/**
 * What one barrier task returns: its layers' trained parameters (ND4J bytes, by global layer index) and
 * its per-step records.
 *
 * @param rank device index
 * @param layerParams trained parameters of this rank's layers, {@code Nd4j.toByteArray} form
 * @param updaterState updater state of this rank's layers, same form
 * @param steps this rank's per-step records, in step order
 * @param examples examples stage 0 read (0 on other ranks)
 * @param droppedExamples examples of the dropped partial last mini-batch (0 on other ranks)
 */
record TaskResult(int rank, Map<Integer, byte[]> layerParams, Map<Integer, byte[]> updaterState, List<RankStep> steps, long examples,
                  long droppedExamples) implements Serializable {
}
