package io.sparkmp.bench;

import java.util.OptionalInt;

/**
 * Search for the largest width that trains, on a grid of multiples of {@code step}: doubles from {@code start}
 * while probes succeed (halves while they fail), then bisects between the largest success and the smallest
 * failure until they are one step apart, or the probe budget is spent, or {@code maxWidth} trained. Assumes
 * that a width that fails fails for every larger width too. With a {@code hint} above the start (e.g. the first
 * failure of an earlier run), the probe after a successful start is the hint instead of twice the start: an
 * earlier bracket is re-checked with two probes.
 */
final class WidthSearch {
    private final int step;
    private final int maxWidth;
    private final int maxProbes;
    private final int start;
    private final int hint;              // 0: none
    private int largestFit;              // 0: none yet
    private int smallestFail;            // Integer.MAX_VALUE: none yet
    private int probes;

    WidthSearch(int start, int step, int maxWidth, int maxProbes) {
        this(start, 0, step, maxWidth, maxProbes);
    }

    /** A search whose second probe, after a successful start, is {@code hint} (0: none; else above start). */
    WidthSearch(int start, int hint, int step, int maxWidth, int maxProbes) {
        if (step <= 0 || maxProbes <= 0) {
            throw new IllegalArgumentException("step and maxProbes must be positive, found " + step + " and " + maxProbes);
        }
        if (maxWidth < step) {
            throw new IllegalArgumentException("maxWidth (" + maxWidth + ") must be at least step (" + step + ")");
        }
        this.step = step;
        this.maxWidth = floor(maxWidth);
        this.maxProbes = maxProbes;
        this.start = Math.min(this.maxWidth, Math.max(step, floor(start)));
        if (hint != 0 && floor(hint) <= this.start) {
            throw new IllegalArgumentException("hint (" + hint + ") must be above start (" + this.start + ")");
        }
        this.hint = Math.min(this.maxWidth, floor(hint));
        this.largestFit = 0;
        this.smallestFail = Integer.MAX_VALUE;
    }

    /** The next width to probe, or empty when the search is over. */
    OptionalInt next() {
        if (probes >= maxProbes || largestFit >= maxWidth || smallestFail <= step
                || (smallestFail != Integer.MAX_VALUE && smallestFail - largestFit <= step)) {
            return OptionalInt.empty();
        }
        if (largestFit == 0 && smallestFail == Integer.MAX_VALUE) {
            return OptionalInt.of(start);
        }
        if (smallestFail == Integer.MAX_VALUE) {
            if (hint > 0 && largestFit == start) {
                return OptionalInt.of(hint);
            }
            return OptionalInt.of(Math.min(maxWidth, floor(2L * largestFit)));
        }
        if (largestFit == 0) {
            return OptionalInt.of(Math.max(step, floor(smallestFail / 2L)));
        }
        return OptionalInt.of(floor(((long) largestFit + smallestFail) / 2));
    }

    /**
     * Records a probe's outcome.
     *
     * @throws IllegalArgumentException when the outcome contradicts an earlier one (a success above a failure)
     */
    void record(int width, boolean trained) {
        probes++;
        if (trained) {
            if (width >= smallestFail) {
                throw new IllegalArgumentException("width " + width + " trained but " + smallestFail + " failed");
            }
            largestFit = Math.max(largestFit, width);
        } else {
            if (width <= largestFit) {
                throw new IllegalArgumentException("width " + width + " failed but " + largestFit + " trained");
            }
            smallestFail = Math.min(smallestFail, width);
        }
    }

    /** The largest width that trained; 0 when none did. */
    int largestFit() {
        return largestFit;
    }

    /** The smallest width that failed; empty when none did. */
    OptionalInt smallestFail() {
        return smallestFail == Integer.MAX_VALUE ? OptionalInt.empty() : OptionalInt.of(smallestFail);
    }

    /** Whether the bracket is closed to one step (not only stopped by the probe budget or maxWidth). */
    boolean converged() {
        return smallestFail != Integer.MAX_VALUE && smallestFail - largestFit <= step;
    }

    int probes() {
        return probes;
    }

    private int floor(long width) {
        return (int) (width / step * step);
    }
}
