package io.sparkmp.runtime;

import io.sparkmp.transport.FrameType;
import io.sparkmp.transport.TensorChannel;
import io.sparkmp.transport.TensorKey;
import org.nd4j.linalg.api.ndarray.INDArray;

/** A rank's channel as its step sees it: every receive's blocked time counts as a wait of the step. */
final class StepChannel {

    private final TensorChannel channel;
    private final StepTiming timing;

    StepChannel(TensorChannel channel, StepTiming timing) {
        this.channel = channel;
        this.timing = timing;
    }

    void send(int peer, TensorKey key, INDArray tensor) {
        channel.send(peer, key, tensor);
    }

    /** The tensor {@code key} from {@code peer}, blocking until it is there; the time blocked is a wait. */
    INDArray receive(int peer, TensorKey key) {
        long t0 = System.nanoTime();
        try {
            return channel.receive(peer, key);
        } finally {
            // A control frame's micro-batch field names the message, not a micro-batch.
            int mb = key.type() == FrameType.CONTROL ? ActionEvent.NO_MICRO_BATCH : key.microBatch();
            timing.waited(key.targetStage(), mb, t0, System.nanoTime());
        }
    }

    /** Hands a received tensor's buffer back to the channel for a later frame. */
    void recycle(INDArray received) {
        channel.recycle(received);
    }
}
