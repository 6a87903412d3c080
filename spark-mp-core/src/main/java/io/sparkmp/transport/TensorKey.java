package io.sparkmp.transport;

/**
 * Identifies one tensor exchanged between pipeline stages: what it is, for which optimizer step and
 * micro-batch, and from which (virtual) stage to which. A receiver asks for a tensor by its key; frames
 * that arrive before they are asked for are held until then.
 *
 * @param type what the tensor carries
 * @param step global optimizer step (0-based)
 * @param microBatch micro-batch index within the step (0-based)
 * @param sourceStage pipeline (virtual) stage that produced it
 * @param targetStage pipeline (virtual) stage that consumes it
 * @param tensor which of several tensors of the same type, step, micro-batch and stage pair (a graph stage sends
 *     every tensor crossing its cut under its own key); 0 when there is one
 */
@io.sparkmp.Internal
public record TensorKey(FrameType type, long step, int microBatch, int sourceStage, int targetStage, int tensor) {

    /** The key of the only tensor of its kind between two stages (tensor 0). */
    public TensorKey(FrameType type, long step, int microBatch, int sourceStage, int targetStage) {
        this(type, step, microBatch, sourceStage, targetStage, 0);
    }

    public TensorKey {
        if (tensor < 0) {
            throw new IllegalArgumentException("tensor must be >= 0, found " + tensor);
        }
        if (type == null) {
            throw new IllegalArgumentException("type must not be null");
        }
        if (step < 0) {
            throw new IllegalArgumentException("step must be >= 0, found " + step);
        }
        if (microBatch < 0) {
            throw new IllegalArgumentException("microBatch must be >= 0, found " + microBatch);
        }
        if (sourceStage < 0 || targetStage < 0) {
            throw new IllegalArgumentException(
                    "stages must be >= 0, found source " + sourceStage + ", target " + targetStage);
        }
    }

    /**
     * The key of one message of a ring all-reduce. The record's fields carry it (so the wire format is the
     * same as for every other frame): {@code microBatch} is the reduction's {@code tag}, {@code sourceStage}
     * the {@code round} (which phase and chunk, numbered by {@link RingAllReduce}), {@code targetStage} the
     * {@code piece} within the chunk.
     */
    public static TensorKey allReduce(long step, int tag, int round, int piece) {
        return new TensorKey(FrameType.ALLREDUCE, step, tag, round, piece);
    }

    @Override
    public String toString() {
        if (type == FrameType.ALLREDUCE) {
            return type + "[step " + step + ", tag " + microBatch + ", round " + sourceStage + ", piece " + targetStage
                    + "]";
        }
        return type + "[step " + step + ", micro-batch " + microBatch + ", stage " + sourceStage + "->" + targetStage
                + (tensor > 0 ? ", tensor " + tensor : "") + "]";
    }
}
