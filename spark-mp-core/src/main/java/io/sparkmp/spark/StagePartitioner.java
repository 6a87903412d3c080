package io.sparkmp.spark;

import org.apache.spark.Partitioner;

/**
 * Routes every training row to partition 0 of a P-partition RDD: the barrier stage needs exactly P
 * partitions (one per pipeline stage), and stage 0 is the only one that reads data. With R data-parallel
 * replicas ({@link io.sparkmp.runtime.Topology}) there are P x R partitions and a row keyed by its index i in
 * the epoch goes to device 0 of replica {@code (i mod B) / (B / R)}, which trains that share of each mini-batch.
 */
final class StagePartitioner extends Partitioner {
    private static final long serialVersionUID = 1L;
    private final int partitions;
    private final int devices;
    private final int replicas;
    private final int batchSize;

    StagePartitioner(int partitions) {
        if (partitions < 1) {
            throw new IllegalArgumentException("partitions must be >= 1, found " + partitions);
        }
        this.partitions = partitions;
        this.devices = partitions;
        this.replicas = 1;
        this.batchSize = 1;
    }

    /** The partitions of {@code topology}'s ranks, rows keyed by their index in the epoch (a Long). */
    StagePartitioner(io.sparkmp.runtime.Topology topology, int batchSize) {
        if (batchSize % topology.replicas() != 0) {
            throw new IllegalArgumentException("replicas (" + topology.replicas() + ") must divide batchSize ("
                    + batchSize + ")");
        }
        this.partitions = topology.ranks();
        this.devices = topology.devices();
        this.replicas = topology.replicas();
        this.batchSize = batchSize;
    }

    @Override
    public int numPartitions() {
        return partitions;
    }

    @Override
    public int getPartition(Object key) {
        if (replicas == 1) {
            return 0;
        }
        long inBatch = (Long) key % batchSize;
        return (int) (inBatch / (batchSize / replicas)) * devices;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof StagePartitioner p && p.partitions == partitions && p.devices == devices
                && p.replicas == replicas && p.batchSize == batchSize;
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(partitions, devices, replicas, batchSize);
    }
}
