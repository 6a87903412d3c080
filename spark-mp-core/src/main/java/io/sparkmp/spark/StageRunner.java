package io.sparkmp.spark;

import io.sparkmp.runtime.RankTimeline;
import io.sparkmp.store.LayerEntry;
import io.sparkmp.store.ModelStore;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import io.sparkmp.runtime.MiniBatch;

import java.io.IOException;
import java.util.List;

/** One rank's share of the pipeline inside a barrier task: the seam between the task body and the engine. */
interface StageRunner extends AutoCloseable {

    /**
     * Runs every action of this rank for one mini-batch (optimizer step).
     *
     * @param miniBatchOrNull the mini-batch on rank 0 (read a micro-batch at a time), null on the other ranks
     */
    RankStep runStep(int epoch, long step, MiniBatch miniBatchOrNull);

    /** Replaces this rank's layers (parameters, updater state) with theirs in a complete store of this model. */
    void readLayers(ModelStore store) throws IOException;

    /**
     * Writes this rank's layers (parameters, updater state) to {@code dir}, file names tagged {@code tag}.
     *
     * @return their manifest entries
     */
    List<LayerEntry> writeLayers(FileSystem fs, Path dir, String tag) throws IOException;

    /**
     * Continues the count of steps left out for a non-finite gradient from a checkpoint or store, so DL4J's
     * iteration count (steps minus skipped ones) continues where it was. Engines without the skip policy
     * ignore it.
     */
    default void restoreSkippedSteps(long skipped) {
    }

    /** Why the last skipped step was skipped (for the executor log), or null. */
    default String lastSkipReason() {
        return null;
    }

    /** This rank's recorded timeline since the last call, or null when it records none. */
    default RankTimeline timeline() {
        return null;
    }

    @Override
    void close();
}
