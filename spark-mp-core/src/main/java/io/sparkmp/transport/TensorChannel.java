package io.sparkmp.transport;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The links of one pipeline task (rank) to its peers. Ranks are task indices (devices), not virtual
 * stages: with interleaved schedules several virtual stages share a rank; the {@link TensorKey} names
 * the virtual stages.
 *
 * <p>Contract shared by every implementation (in-process and socket):
 * <ul>
 *   <li>{@link #send} may return before the bytes reach the peer (bounded outbound queue, back-pressure
 *       blocks when it is full, with a timeout). The caller must not mutate {@code tensor} after
 *       {@code send}.</li>
 *   <li>{@link #receive} blocks until the tensor with exactly that key has arrived from that peer, or
 *       fails with a {@link TransportException} naming the peer, key and timeout. Frames with other keys
 *       that arrive first are held until asked for.</li>
 *   <li>The returned array belongs to the caller; when done with it, the caller may hand it back with
 *       {@link #recycle} so its memory is reused for the next frame of the same shape and dtype.</li>
 *   <li>{@link #close} is idempotent and never throws over an earlier error.</li>
 * </ul>
 */
@io.sparkmp.Internal
public interface TensorChannel extends AutoCloseable {

    /** This task's rank. */
    int localRank();

    /** Sends {@code tensor} to {@code peerRank} under {@code key}. */
    void send(int peerRank, TensorKey key, INDArray tensor);

    /** Blocks until the tensor sent by {@code peerRank} under {@code key} arrives; times out with an error. */
    INDArray receive(int peerRank, TensorKey key);

    /**
     * As {@link #receive(int, TensorKey)}, but waits at most {@code timeoutMillis} instead of the channel's own
     * receive timeout. The default, for channels that cannot bound one wait, waits their own timeout.
     */
    default INDArray receive(int peerRank, TensorKey key, long timeoutMillis) {
        return receive(peerRank, key);
    }

    /**
     * Names the array the tensor {@code key} from {@code peerRank} should be read into, when it comes: then
     * {@link #receive} returns {@code destination} itself, filled, and the receiver need not copy. A hint only:
     * when the tensor came before, its type or shape differ, or the channel cannot (the default does nothing),
     * {@code receive} returns another array, as without the hint. From this call until that {@code receive}
     * returns, the caller must not read or write {@code destination} (another thread may be filling it).
     */
    default void expectInto(int peerRank, TensorKey key, INDArray destination) {
    }

    /** Returns a received array for reuse; the caller must not touch it afterwards. Optional. */
    default void recycle(INDArray received) {
    }

    @Override
    void close();
}
