package io.sparkmp.transport;

import org.nd4j.linalg.api.ndarray.INDArray;

/** A channel that hands every call to another one; tests override the calls they change. */
public abstract class ForwardingChannel implements TensorChannel {
    protected final TensorChannel inner;

    protected ForwardingChannel(TensorChannel inner) {
        this.inner = inner;
    }

    @Override
    public int localRank() {
        return inner.localRank();
    }

    @Override
    public void send(int peerRank, TensorKey key, INDArray tensor) {
        inner.send(peerRank, key, tensor);
    }

    @Override
    public INDArray receive(int peerRank, TensorKey key) {
        return inner.receive(peerRank, key);
    }

    @Override
    public INDArray receive(int peerRank, TensorKey key, long timeoutMillis) {
        return inner.receive(peerRank, key, timeoutMillis);
    }

    @Override
    public void expectInto(int peerRank, TensorKey key, INDArray destination) {
        inner.expectInto(peerRank, key, destination);
    }

    @Override
    public void recycle(INDArray received) {
        inner.recycle(received);
    }

    @Override
    public void close() {
        inner.close();
    }
}
