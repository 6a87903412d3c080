package io.sparkmp.plan;

import java.io.Serializable;
import java.util.List;

/**
 * What crosses one cut of a graph model (between two positions of its topological order): every tensor produced
 * before the cut and consumed after it, skip connections included, and their bytes per example (the activations
 * forward; the same size of gradient comes back for those that need one).
 *
 * @param tensors names of the crossing tensors (the vertex or graph input producing each)
 * @param bytesPerExample their bytes per example, summed
 */
public record CutProfile(List<String> tensors, long bytesPerExample) implements Serializable {

    private static final long serialVersionUID = 1L;

    public CutProfile {
        tensors = List.copyOf(tensors);
        if (bytesPerExample < 0) {
            throw new IllegalArgumentException("bytesPerExample must be >= 0, found " + bytesPerExample);
        }
    }
}
