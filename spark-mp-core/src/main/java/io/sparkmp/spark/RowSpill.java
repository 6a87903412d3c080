package io.sparkmp.spark;

import io.sparkmp.runtime.MiniBatch;

import java.util.Iterator;
import java.util.Random;

/**
 * A reading rank's training rows, regrouped into whole mini-batches on the executor's local disk and read back
 * every epoch: {@link MiniBatchSpill} (a DataSet pipeline's stage 0) or {@link GraphBatchSpill} (each graph rank
 * with inputs or outputs). A last partial mini-batch is dropped.
 */
interface RowSpill extends AutoCloseable {

    /** Whole mini-batches. */
    int batches();

    /** Examples read (including those dropped). */
    long examples();

    /** Examples of the partial last mini-batch, not trained on. */
    long droppedExamples();

    /** The mini-batches of one epoch: in order, or the seeded permutation {@link #batchOrder} when shuffling. */
    Iterator<MiniBatch> epoch(int epoch, boolean shuffle, long seed);

    @Override
    void close();

    /** The order an epoch reads mini-batches in: identity, or a seeded shuffle of (seed, epoch). */
    static int[] batchOrder(int batches, int epoch, boolean shuffle, long seed) {
        int[] order = new int[batches];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        if (shuffle) {
            Random r = new Random(seed * 1_000_003L + epoch);
            for (int i = order.length - 1; i > 0; i--) {
                int j = r.nextInt(i + 1);
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
        }
        return order;
    }
}
