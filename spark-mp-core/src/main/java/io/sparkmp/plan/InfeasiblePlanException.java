package io.sparkmp.plan;

/**
 * No plan satisfies the memory budget (or the stated constraints). The message names the numbers: the
 * layer or stage that does not fit, its bytes, the budget, and what the user can change.
 */
public final class InfeasiblePlanException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    InfeasiblePlanException(String message) {
        super(message);
    }
}
