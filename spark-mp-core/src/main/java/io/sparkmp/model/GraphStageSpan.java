package io.sparkmp.model;

import java.util.List;
import java.util.Set;

/**
 * What one stage of a sliced ComputationGraph holds and exchanges: its vertices (a contiguous range of the
 * graph's topological order), the graph inputs that enter here, the tensors it receives from the stage before
 * and sends to the stage after, and the network outputs it holds. A tensor is named by the vertex (or graph
 * input) that produces it.
 *
 * @param stage index of the stage
 * @param vertices the stage's vertices, in the graph's topological order
 * @param entering graph inputs whose first consumer is in this stage: they come from the data here
 * @param received tensors from stage - 1 (produced before this stage, consumed here or after), in production order
 * @param sent tensors to stage + 1 (produced here or before, consumed after), in production order
 * @param outputs network outputs held here, in the graph's output order; their labels come to this stage
 * @param graphInputs every input of the whole graph: tensors that need no gradient back
 */
@io.sparkmp.Internal
public record GraphStageSpan(int stage, List<String> vertices, List<String> entering, List<String> received,
                             List<String> sent, List<String> outputs, Set<String> graphInputs) {

    public GraphStageSpan {
        vertices = List.copyOf(vertices);
        entering = List.copyOf(entering);
        received = List.copyOf(received);
        sent = List.copyOf(sent);
        outputs = List.copyOf(outputs);
        graphInputs = Set.copyOf(graphInputs);
        if (vertices.isEmpty()) {
            throw new IllegalArgumentException("stage " + stage + " holds no vertex");
        }
    }

    /** Whether a gradient travels back for {@code tensor} (every tensor but a graph input). */
    public boolean hasGradient(String tensor) {
        return !graphInputs.contains(tensor);
    }

    /** The received tensors that get a gradient back: what this stage's backward returns. */
    public List<String> receivedWithGradient() {
        return received.stream().filter(this::hasGradient).toList();
    }

    /** The sent tensors whose gradient comes back from stage + 1: what this stage's backward needs. */
    public List<String> sentWithGradient() {
        return sent.stream().filter(this::hasGradient).toList();
    }
}
