package io.sparkmp.runtime;

import io.sparkmp.transport.FrameType;
import io.sparkmp.transport.TensorChannel;
import io.sparkmp.transport.TensorKey;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A sum across the R replicas of one pipeline device in a fixed order, over the links of its ring
 * ({@link Topology#ringOf}) only: replica 0 sends its value to replica 1, each adds its own and passes the partial
 * sum on, replica R - 1 forms the total {@code ((v0 + v1) + v2) + ...} and the total goes on around the ring
 * (R - 1 to 0, 0 to 1, ..., R - 3 to R - 2). Every replica so gets the same bits, whatever the timing. Used for the
 * step's loss (a few bytes); 2 (R - 1) sequential hops, so not for gradients (the ring all-reduce's work).
 */
final class ReplicaChain {

    /** Micro-batch field of the partial sum's and the total's control keys. */
    static final int CONTROL_PARTIAL = 4;
    static final int CONTROL_TOTAL = 5;

    private final TensorChannel job;
    private final int[] ring;
    private final int position;

    /**
     * @param job the job's channel (ranks of the {@link Topology})
     * @param ring the ranks of one device in replica order; {@code job.localRank()} must be one of them
     */
    ReplicaChain(TensorChannel job, int[] ring) {
        this.job = job;
        this.ring = ring.clone();
        int at = -1;
        for (int i = 0; i < ring.length; i++) {
            if (ring[i] == job.localRank()) {
                at = i;
            }
        }
        if (at < 0) {
            throw new IllegalArgumentException("rank " + job.localRank() + " is not on the ring " + java.util.Arrays.toString(ring));
        }
        this.position = at;
    }

    /** The sum of {@code value} over the replicas, the same on each; {@code stage} names the stage in the keys. */
    double sum(double value, long step, int stage) {
        int r = ring.length;
        if (r == 1) {
            return value;
        }
        double acc = value;
        if (position > 0) {
            acc = take(ring[position - 1], key(CONTROL_PARTIAL, step, stage)) + value;
        }
        if (position < r - 1) {
            send(ring[position + 1], key(CONTROL_PARTIAL, step, stage), acc);
            acc = take(ring[(position + r - 1) % r], key(CONTROL_TOTAL, step, stage));
        }
        if (position != r - 2) { // replica R - 2 is the total's last stop
            send(ring[(position + 1) % r], key(CONTROL_TOTAL, step, stage), acc);
        }
        return acc;
    }

    /**
     * Replaces {@code flat} by its sum over the replicas, in the same fixed order (the same bits on each). For a
     * ring of R members this moves 2 (R - 1) whole vectors one after another.
     */
    void sumInPlace(INDArray flat, long step, int stage) {
        int r = ring.length;
        if (r == 1) {
            return;
        }
        TensorKey partial = new TensorKey(FrameType.REPLICA_GRADIENT, step, 0, stage, stage);
        TensorKey total = new TensorKey(FrameType.REPLICA_GRADIENT, step, 1, stage, stage);
        INDArray acc;
        if (position > 0) {
            INDArray in = job.receive(ring[position - 1], partial);
            acc = in.add(flat.reshape(in.shape()));
            job.recycle(in);
        } else {
            acc = flat.dup(); // sent: the channel must not see flat change
        }
        if (position < r - 1) {
            job.send(ring[position + 1], partial, acc);
            acc = job.receive(ring[(position + r - 1) % r], total);
        }
        if (position != r - 2) {
            job.send(ring[(position + 1) % r], total, acc);
        }
        flat.assign(acc.reshape(flat.shape()));
    }

    private double take(int from, TensorKey key) {
        INDArray a = job.receive(from, key);
        double v = a.getDouble(0);
        job.recycle(a);
        return v;
    }

    private void send(int to, TensorKey key, double v) {
        job.send(to, key, Nd4j.scalar(DataType.DOUBLE, v).reshape(1));
    }

    private static TensorKey key(int which, long step, int stage) {
        return new TensorKey(FrameType.CONTROL, step, which, stage, stage);
    }
}
