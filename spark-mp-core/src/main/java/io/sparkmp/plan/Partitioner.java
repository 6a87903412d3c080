package io.sparkmp.plan;

import java.util.Arrays;

/**
 * Splits layers {@code 0..L-1} into {@code K} contiguous, non-empty stages so that the slowest stage
 * ({@link StageCostModel#time}) is as fast as possible while every stage fits its memory budget
 * ({@link StageCostModel} memory with that stage's micro-batches in flight).
 *
 * <h2>The dynamic program</h2>
 * Stage costs here are not monotone in the stage's extent (a cut's transfer time and the receive buffers
 * depend on where the stage starts and ends), so a greedy "fill each stage" check is not exact. Instead:
 * <ol>
 *   <li><b>Decision</b> for a bottleneck {@code T}: {@code good[s][a]} = "layers {@code a..L-1} can be split
 *       into stages {@code s..K-1}, each with time &le; T and memory &le; its budget", computed backwards
 *       from {@code good[K][L] = true}: {@code good[s][a]} holds when some {@code b} with
 *       {@code good[s+1][b]} makes {@code [a, b)} feasible for stage {@code s}. For each {@code a} the scan
 *       over {@code b} stops as soon as a part of the cost that only grows with {@code b} exceeds its
 *       limit (compute + the send at {@code a} &gt; T; parameters, gradients, updater state and kept
 *       activations &gt; budget), so one decision costs O(sum of feasible stage lengths), about
 *       O(L * L / K) when layers are balanced, and at most O(K * L^2).</li>
 *   <li><b>Optimisation</b>: the optimal bottleneck T* is the smallest T whose decision is true. Starting
 *       from the lower bound max(largest layer, total / K), the search doubles until feasible, then
 *       bisects; every feasible decision returns an actual partition whose bottleneck (&le; T) becomes the
 *       new upper end, and the search stops when the ends are within 1e-12 (relative): the returned
 *       partition's bottleneck is T* to that precision. About 40 decisions.</li>
 *   <li><b>Tie rule</b> (determinism and balance): many partitions share the optimal bottleneck. The one
 *       returned is built forwards from the {@code good} table: stage {@code s}, starting at {@code a}, takes
 *       among the ends {@code b} that keep the rest feasible ({@code [a, b)} feasible and {@code good[s+1][b]})
 *       the one whose compute time is closest to an equal share of what remains,
 *       {@code compute(a, L) / (K - s)}; on equal distance the earlier end.</li>
 * </ol>
 */
final class Partitioner {

    /** A solution: boundaries {@code [0, b1, ..., L]} and its bottleneck (slowest stage time). */
    record Partition(int[] boundaries, double bottleneck) {
    }

    private final StageCostModel cost;
    private final int stages;
    private final long[] budget;
    private final int[] inFlight;
    private final int layers;
    private final boolean[][] good;
    private int decisions;

    /**
     * @param budget memory budget of each stage (length K)
     * @param inFlight micro-batches in flight at the peak of each stage (length K)
     */
    Partitioner(StageCostModel cost, int stages, long[] budget, int[] inFlight) {
        if (stages <= 0) {
            throw new IllegalArgumentException("stages must be positive, found " + stages);
        }
        if (stages > cost.layers()) {
            throw new IllegalArgumentException("stages (" + stages + ") must not exceed layers (" + cost.layers() + ")");
        }
        if (budget.length != stages || inFlight.length != stages) {
            throw new IllegalArgumentException("need one budget and one in-flight count per stage (" + stages
                    + "), found " + budget.length + " and " + inFlight.length);
        }
        this.cost = cost;
        this.stages = stages;
        this.budget = budget.clone();
        this.inFlight = inFlight.clone();
        this.layers = cost.layers();
        this.good = new boolean[stages + 1][layers + 1];
    }

    /** Number of decisions the last {@link #solve()} ran (for benchmarks). */
    int decisions() {
        return decisions;
    }

    /** Whether stage {@code s} may be {@code [a, b)} under bottleneck {@code t}. */
    boolean feasible(int s, int a, int b, double t) {
        if (cost.time(a, b) > t) {
            return false;
        }
        return memory(s, a, b) <= budget[s];
    }

    /** Memory of stage s as [a, b) (same formula as StageCostModel#memory, without the breakdown). */
    long memory(int s, int a, int b) {
        long working = 0;
        for (int i = a; i < b; i++) {
            working = Math.max(working, cost.workingBytes(i));
        }
        return cost.staticBytes(a, b) + inFlight[s] * cost.keptBytes(a, b) + working + cost.receiveBytes(a, b);
    }

    /**
     * The optimal partition, or {@code null} when no split into K stages fits the budgets (at any time).
     */
    Partition solve() {
        decisions = 0;
        double total = cost.compute(0, layers);
        double lower = total / stages;
        double maxCut = 0;
        for (int i = 0; i < layers; i++) {
            lower = Math.max(lower, cost.compute(i, i + 1));
            maxCut = Math.max(maxCut, cost.cut(i));
        }
        // No stage can be slower than the whole model plus two sends: above that only memory decides.
        double ceiling = total + 2 * maxCut;
        double lo = 0;
        double hi = Math.max(lower, Double.MIN_NORMAL);
        int[] best = decide(hi);
        while (best == null) {
            if (hi >= ceiling) {
                return null;
            }
            lo = hi;
            hi = Math.min(Math.max(hi * 2, Double.MIN_NORMAL), ceiling);
            if (hi <= lo) {
                hi = ceiling;
            }
            best = decide(hi);
        }
        hi = bottleneck(best);
        while (hi - lo > 1e-12 * hi) {
            double mid = lo + (hi - lo) / 2;
            if (mid <= lo || mid >= hi) {
                break;
            }
            int[] p = decide(mid);
            if (p == null) {
                lo = mid;
            } else {
                best = p;
                hi = bottleneck(p);
            }
        }
        return new Partition(best, bottleneck(best));
    }

    /** Slowest stage of a boundary vector. */
    double bottleneck(int[] boundaries) {
        double m = 0;
        for (int s = 0; s + 1 < boundaries.length; s++) {
            m = Math.max(m, cost.time(boundaries[s], boundaries[s + 1]));
        }
        return m;
    }

    /** A feasible boundary vector under bottleneck t (chosen by the tie rule), or null. */
    int[] decide(double t) {
        decisions++;
        for (boolean[] row : good) {
            Arrays.fill(row, false);
        }
        good[stages][layers] = true;
        for (int s = stages - 1; s >= 0; s--) {
            int remainingAfter = stages - s - 1;
            int firstA = s == 0 ? 0 : s;
            int lastA = s == 0 ? 0 : layers - (stages - s);
            for (int a = firstA; a <= lastA; a++) {
                good[s][a] = firstEnd(s, a, layers - remainingAfter, t) >= 0;
            }
        }
        if (!good[0][0]) {
            return null;
        }
        int[] b = new int[stages + 1];
        for (int s = 0; s < stages; s++) {
            b[s + 1] = balancedEnd(s, b[s], layers - (stages - s - 1), t);
        }
        return b;
    }

    /** The feasible end b (keeping good[s+1][b]) whose compute is closest to an equal share of the rest. */
    private int balancedEnd(int s, int a, int maxB, double t) {
        double share = cost.compute(a, layers) / (stages - s);
        double cutA = cost.cut(a);
        long working = 0;
        int best = -1;
        double bestDistance = Double.POSITIVE_INFINITY;
        for (int b = a + 1; b <= maxB; b++) {
            double compute = cost.compute(a, b);
            if (compute + cutA > t) {
                break;
            }
            long growing = cost.staticBytes(a, b) + inFlight[s] * cost.keptBytes(a, b);
            if (growing > budget[s]) {
                break;
            }
            working = Math.max(working, cost.workingBytes(b - 1));
            if (good[s + 1][b] && cost.time(a, b) <= t
                    && growing + working + cost.receiveBytes(a, b) <= budget[s]) {
                double distance = Math.abs(compute - share);
                if (distance < bestDistance) {
                    best = b;
                    bestDistance = distance;
                }
            }
        }
        return best;
    }

    /** Smallest b in (a, maxB] with good[s+1][b] and [a, b) feasible for stage s under t; -1 if none. */
    private int firstEnd(int s, int a, int maxB, double t) {
        double cutA = cost.cut(a);
        long memLimit = budget[s];
        long working = 0;
        for (int b = a + 1; b <= maxB; b++) {
            // Parts that only grow with b: once over, no larger b can fit.
            // fl(compute + cutA) > t implies time(a, b) = fl(fl(compute + cutA) + cutB) > t, as cutB >= 0.
            if (cost.compute(a, b) + cutA > t) {
                return -1;
            }
            long growing = cost.staticBytes(a, b) + inFlight[s] * cost.keptBytes(a, b);
            if (growing > memLimit) {
                return -1;
            }
            working = Math.max(working, cost.workingBytes(b - 1));
            if (good[s + 1][b]
                    && cost.time(a, b) <= t
                    && growing + working + cost.receiveBytes(a, b) <= memLimit) {
                return b;
            }
        }
        return -1;
    }
}
