package io.sparkmp.spark;

import org.apache.spark.Partitioner;

/**
 * Routes every training row to partition 0 of a P-partition RDD: the barrier stage needs exactly P
 * partitions (one per pipeline stage), and stage 0 is the only one that reads data.
 */
final class StagePartitioner extends Partitioner {
    private static final long serialVersionUID = 1L;
    private final int partitions;

    StagePartitioner(int partitions) {
        if (partitions < 1) {
            throw new IllegalArgumentException("partitions must be >= 1, found " + partitions);
        }
        this.partitions = partitions;
    }

    @Override
    public int numPartitions() {
        return partitions;
    }

    @Override
    public int getPartition(Object key) {
        return 0;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof StagePartitioner p && p.partitions == partitions;
    }

    @Override
    public int hashCode() {
        return partitions;
    }
}
