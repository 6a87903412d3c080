package io.sparkmp.runtime;

import java.io.Serializable;

/**
 * Which optimizer steps the timeline records and how many events a rank keeps: {@code steps} consecutive
 * steps from {@code firstStep} (the steps before pay connection set-up, first allocations and JIT
 * compilation), plus every step that is a positive multiple of {@code every}; at most {@code maxEvents} events
 * per rank, the rest counted as dropped. Immutable; travels to every task.
 *
 * @param firstStep first step of the consecutive run, {@code >= 0}
 * @param steps consecutive steps recorded from {@code firstStep}, {@code >= 0}
 * @param every also record steps {@code every, 2 every, ...}; 0: none
 * @param maxEvents most events one rank holds, {@code >= 0}
 */
@io.sparkmp.Internal
public record TimelineSampling(int firstStep, int steps, int every, int maxEvents) implements Serializable {

    private static final long serialVersionUID = 1L;

    /** @throws IllegalArgumentException if a value is negative */
    public TimelineSampling {
        nonNegative("firstStep", firstStep);
        nonNegative("steps", steps);
        nonNegative("every", every);
        nonNegative("maxEvents", maxEvents);
    }

    /** Whether the actions of {@code step} are recorded. */
    public boolean sampled(long step) {
        return step >= firstStep && step - firstStep < steps || every > 0 && step > 0 && step % every == 0;
    }

    /** A recorder of {@code rank}'s actions with this sampling. */
    public ActionRecorder recorder(int rank) {
        return new ActionRecorder(rank, this);
    }

    private static void nonNegative(String name, int value) {
        if (value < 0) {
            throw new IllegalArgumentException(name + " must be >= 0, found " + value);
        }
    }
}
