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
 */
@io.sparkmp.Internal
public record TensorKey(FrameType type, long step, int microBatch, int sourceStage, int targetStage) {
    public TensorKey {
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

    @Override
    public String toString() {
        return type + "[step " + step + ", micro-batch " + microBatch + ", stage " + sourceStage + "->" + targetStage + "]";
    }
}
