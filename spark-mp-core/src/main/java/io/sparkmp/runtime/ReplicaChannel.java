package io.sparkmp.runtime;

import io.sparkmp.transport.TensorChannel;
import io.sparkmp.transport.TensorKey;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * One replica's pipeline as its stages see it: a {@link TensorChannel} whose ranks are the pipeline devices
 * [0, P) of replica {@code replica}, over the job's channel, whose ranks are {@link Topology} ranks. The stage
 * code (schedule, labels, step header, loss) so runs unchanged in every replica; only the replicas' ring
 * all-reduce uses the job's ranks.
 */
final class ReplicaChannel implements TensorChannel {

    private final TensorChannel job;
    private final Topology topology;
    private final int replica;
    private final int device;

    ReplicaChannel(TensorChannel job, Topology topology, int replica) {
        this.job = job;
        this.topology = topology;
        this.replica = replica;
        this.device = topology.device(job.localRank());
        if (topology.replica(job.localRank()) != replica) {
            throw new IllegalArgumentException("channel of " + topology.describe(job.localRank())
                    + " does not belong to replica " + replica);
        }
    }

    @Override
    public int localRank() {
        return device;
    }

    @Override
    public void send(int peerRank, TensorKey key, INDArray tensor) {
        job.send(topology.rank(peerRank, replica), key, tensor);
    }

    @Override
    public INDArray receive(int peerRank, TensorKey key) {
        return job.receive(topology.rank(peerRank, replica), key);
    }

    @Override
    public void recycle(INDArray received) {
        job.recycle(received);
    }

    @Override
    public void close() {
        // the job's channel belongs to whoever opened it
    }
}
