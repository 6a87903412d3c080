package io.sparkmp.transport;

/** What a tensor frame carries. The ordinal is NOT the wire id; see {@link #wireId()}. */
@io.sparkmp.Internal
public enum FrameType {
    /** Forward activations, stage s to stage s + 1. */
    ACTIVATION(1),
    /** Gradient with respect to a stage's input, stage s to stage s - 1. */
    GRADIENT(2),
    /** Labels of a micro-batch, forwarded from stage 0 to the last stage. */
    LABELS(3),
    /** Per-example (or per-time-step) label mask, forwarded with the labels. */
    LABEL_MASK(4),
    /** Features mask (RNN), forwarded with the activations. */
    FEATURES_MASK(5),
    /** Gradient sums exchanged between data-parallel replicas of one stage. */
    REPLICA_GRADIENT(6),
    /** Small control payloads (losses, metrics) between stages. */
    CONTROL(7),
    /**
     * One piece of a {@link RingAllReduce} (reduce-scatter, all-gather or its closing acknowledgement) between
     * neighbours of a ring; the key's fields are laid out by {@link TensorKey#allReduce}.
     */
    ALLREDUCE(8);

    private final int wireId;

    FrameType(int wireId) {
        this.wireId = wireId;
    }

    /** Stable id written on the wire; never reuse or renumber. */
    public int wireId() {
        return wireId;
    }

    /** Looks a frame type up by its wire id. */
    public static FrameType fromWireId(int id) {
        for (FrameType t : values()) {
            if (t.wireId == id) {
                return t;
            }
        }
        throw new IllegalArgumentException("unknown frame type id " + id);
    }
}
