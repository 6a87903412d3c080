package io.sparkmp.spark;

import io.sparkmp.runtime.GraphPipeline;
import io.sparkmp.runtime.GraphRank;
import io.sparkmp.runtime.Topology;
import io.sparkmp.schedule.ScheduleKind;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;

import java.io.Serializable;
import java.util.Arrays;
import java.util.SortedSet;

/**
 * What every rank of a ComputationGraph job builds and runs, fixed on the driver and broadcast inside the
 * {@link JobSpec}: the graph's JSON, the split over its topological order, the schedule and the batch. Immutable.
 *
 * @param graphJson {@code ComputationGraphConfiguration.toJson()}
 * @param boundaries stage boundaries over {@code GraphSlicer.order} (P x v + 1 entries)
 */
record GraphJob(String graphJson, int[] boundaries, ScheduleKind schedule, int devices, int stagesPerDevice,
                int microBatches, int batchSize, long seed) implements Serializable {
    private static final long serialVersionUID = 1L;

    /** Checks the graph against the split (driver side, before launch) with {@link GraphPipeline.Spec}'s checks. */
    GraphJob {
        boundaries = boundaries.clone();
        if (batchSize % microBatches != 0) {
            throw new IllegalArgumentException("microBatches (" + microBatches + ") must divide batchSize (" + batchSize + ")");
        }
        spec(graphJson, boundaries, schedule, devices, microBatches, stagesPerDevice, seed);
    }

    @Override
    public int[] boundaries() {
        return boundaries.clone();
    }

    /** A fresh in-JVM spec of the pipeline (parses the JSON). */
    GraphPipeline.Spec pipeline() {
        return spec(graphJson, boundaries, schedule, devices, microBatches, stagesPerDevice, seed);
    }

    private static GraphPipeline.Spec spec(String json, int[] boundaries, ScheduleKind schedule, int devices,
                                           int microBatches, int stagesPerDevice, long seed) {
        return new GraphPipeline.Spec(ComputationGraphConfiguration.fromJson(json), boundaries, schedule, devices,
                microBatches, stagesPerDevice, seed);
    }

    Topology topology() {
        return new Topology(devices, 1);
    }

    org.nd4j.linalg.api.buffer.DataType dataType() {
        return ComputationGraphConfiguration.fromJson(graphJson).getDataType();
    }

    SortedSet<Integer> peersOf(int rank) {
        return GraphRank.peersOf(pipeline(), rank);
    }

    boolean readsData(int rank) {
        return GraphRank.readsData(pipeline(), rank);
    }

    String describe() {
        return "graph, " + schedule.label() + ", P=" + devices + ", v=" + stagesPerDevice + ", M=" + microBatches
                + ", batch " + batchSize + ", seed " + seed + ", boundaries " + Arrays.toString(boundaries);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GraphJob g && g.graphJson.equals(graphJson) && Arrays.equals(g.boundaries, boundaries)
                && g.schedule == schedule && g.devices == devices && g.stagesPerDevice == stagesPerDevice
                && g.microBatches == microBatches && g.batchSize == batchSize && g.seed == seed;
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(graphJson, Arrays.hashCode(boundaries), schedule, devices, microBatches, batchSize);
    }
}
