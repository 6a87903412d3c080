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
 *       {@code good[s+1][b]} makes {@code [a, b)} feasible for stage {@code s}. Only starts {@code a} in a band
 *       are tried: the s stages before it each take &le; T, so compute(0, a) &le; s T, and likewise
 *       compute(a, L) &le; (K - s) T. For each {@code a} only the good ends are visited (a next-good index
 *       over row s+1), stopping at the first whose parts that only grow with {@code b} exceed their limit
 *       (compute + the send at {@code a} &gt; T; parameters, gradients, updater state and kept activations
 *       &gt; budget). One decision costs about O(K * band) with band ~ (K T - total) / (average layer time),
 *       at most O(K * L^2).</li>
 *   <li><b>Optimisation</b>: the optimal bottleneck T* is the smallest T whose decision is true, and it is
 *       the time of some stage [a, b). Starting from the lower bound max(largest layer, total / K) (if that
 *       is feasible it is optimal), T grows by 1/8 until feasible, giving lo (infeasible) &lt; T* &le; hi.
 *       Then the distinct stage times in (lo, hi) are listed (only stages short enough to be under hi,
 *       O(L * window)) and binary-searched with the decision: about log2(L * window) decisions, and the
 *       result is exact.</li>
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
    /** good[s][a] (flattened) holds when it equals the current decision's stamp: no clearing between decisions. */
    private final int[] good;
    private int stamp;
    private final int[] nextGood;
    private static final int NONE = Integer.MAX_VALUE;
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
        this.good = new int[(stages + 1) * (layers + 1)];
        this.nextGood = new int[layers + 2];
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
        return cost.staticBytes(a, b) + cost.activationBytes(a, b, inFlight[s]) + working + cost.receiveBytes(a, b);
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
        // No stage can be slower than the whole model (with its recomputed forward) plus two sends: above that
        // only memory decides.
        double ceiling = total + cost.maxRecompute() + 2 * maxCut;
        double lo = 0;
        double hi = Math.max(lower, Double.MIN_NORMAL);
        int[] best = decide(hi);
        while (best == null) {
            if (hi >= ceiling) {
                return null;
            }
            lo = hi;
            // Grow gently: a decision far above T* scans wide bands and costs more than a few extra steps.
            hi = Math.min(Math.max(hi * 1.125, Double.MIN_NORMAL), ceiling);
            if (hi <= lo) {
                hi = ceiling;
            }
            best = decide(hi);
        }
        hi = bottleneck(best);
        if (lo == 0) {
            return new Partition(best, hi); // the lower bound itself was feasible: optimal
        }
        // T* is the time of some stage [a, b) in (lo, hi]: binary search over those values, exactly.
        double[] values = stageTimesBetween(lo, hi);
        int left = 0;
        int right = values.length; // values[right..] are feasible (hi is, by the decision above)
        while (left < right) {
            int mid = (left + right) >>> 1;
            int[] p = decide(values[mid]);
            if (p == null) {
                left = mid + 1;
            } else {
                best = p;
                right = mid;
            }
        }
        return new Partition(best, bottleneck(best));
    }

    /** Distinct stage times in (lo, hi), ascending, of stages that fit the largest budget's growing part. */
    private double[] stageTimesBetween(double lo, double hi) {
        long maxBudget = 0;
        int minInFlight = Integer.MAX_VALUE;
        for (int s = 0; s < stages; s++) {
            maxBudget = Math.max(maxBudget, budget[s]);
            minInFlight = Math.min(minInFlight, inFlight[s]);
        }
        double[] v = new double[Math.max(16, 4 * layers)];
        int n = 0;
        for (int a = 0; a < layers; a++) {
            double cutA = cost.cut(a);
            for (int b = a + 1; b <= layers; b++) {
                if (cost.compute(a, b) + cutA > hi
                        || cost.staticBytes(a, b) + cost.activationBytes(a, b, minInFlight) > maxBudget) {
                    break;
                }
                double t = cost.time(a, b);
                if (t > lo && t < hi) {
                    if (n == v.length) {
                        v = Arrays.copyOf(v, 2 * n);
                    }
                    v[n++] = t;
                }
            }
        }
        Arrays.sort(v, 0, n);
        int u = 0;
        for (int i = 0; i < n; i++) {
            if (u == 0 || v[i] != v[u - 1]) {
                v[u++] = v[i];
            }
        }
        return Arrays.copyOf(v, u);
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
        stamp++;
        mark(stages, layers);
        int goodLo = layers; // band of good[s+1]: positions outside it are never good
        int goodHi = layers;
        double slack = 1 + 1e-9;
        for (int s = stages - 1; s >= 0; s--) {
            int remainingAfter = stages - s - 1;
            // Band of possible starts of stage s: the s stages before it each take <= t, so the compute before
            // a is <= s * t; the K - s stages from a on likewise hold compute(a, L) <= (K - s) * t.
            int firstA = s == 0 ? 0 : Math.max(s, firstWithSuffixAtMost((stages - s) * t * slack));
            int lastA = s == 0 ? 0 : Math.min(layers - (stages - s), lastWithPrefixAtMost(s * t * slack));
            fillNextGood(s + 1, goodLo, goodHi);
            int newLo = Integer.MAX_VALUE;
            int newHi = -1;
            for (int a = firstA; a <= lastA; a++) {
                if (firstEnd(s, a, Math.min(goodHi, layers - remainingAfter), goodLo, t) >= 0) {
                    mark(s, a);
                    newLo = Math.min(newLo, a);
                    newHi = a;
                }
            }
            if (newHi < 0) {
                return null;
            }
            goodLo = newLo;
            goodHi = newHi;
        }
        if (!isGood(0, 0)) {
            return null;
        }
        int[] b = new int[stages + 1];
        for (int s = 0; s < stages; s++) {
            b[s + 1] = balancedEnd(s, b[s], layers - (stages - s - 1), t);
        }
        return b;
    }

    /** nextGood[p] = smallest q &ge; p with good[row][q], for p in [lo, hi]; NONE past hi. */
    private void fillNextGood(int row, int lo, int hi) {
        nextGood[hi + 1] = NONE;
        for (int p = hi; p >= lo; p--) {
            nextGood[p] = isGood(row, p) ? p : nextGood[p + 1];
        }
    }

    private void mark(int s, int a) {
        good[s * (layers + 1) + a] = stamp;
    }

    private boolean isGood(int s, int a) {
        return good[s * (layers + 1) + a] == stamp;
    }

    /** Largest a with compute(0, a) <= x (prefix sums are non-decreasing). */
    private int lastWithPrefixAtMost(double x) {
        int lo = 0;
        int hi = layers;
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            if (cost.compute(0, mid) <= x) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return lo;
    }

    /** Smallest a with compute(a, L) <= x. */
    private int firstWithSuffixAtMost(double x) {
        int lo = 0;
        int hi = layers;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (cost.compute(mid, layers) <= x) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        return lo;
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
            long growing = cost.staticBytes(a, b) + cost.activationBytes(a, b, inFlight[s]);
            if (growing > budget[s]) {
                break;
            }
            working = Math.max(working, cost.workingBytes(b - 1));
            if (isGood(s + 1, b) && cost.time(a, b) <= t
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

    /**
     * Smallest b in (a, maxB] with good[s+1][b] and [a, b) feasible for stage s under t; -1 if none. Walks
     * only the good ends (via nextGood, valid from goodLo) and stops at the first whose growing parts no
     * longer fit.
     */
    private int firstEnd(int s, int a, int maxB, int goodLo, double t) {
        int b = a + 1 > maxB ? NONE : nextGood[Math.max(a + 1, goodLo)];
        while (b <= maxB) {
            if (!growingFits(s, a, b, t)) {
                return -1;
            }
            if (cost.time(a, b) <= t && memory(s, a, b) <= budget[s]) {
                return b;
            }
            b = b + 1 > maxB ? NONE : nextGood[b + 1];
        }
        return -1;
    }

    /**
     * The monotone parts of [a, b): fl(compute + cut(a)) &gt; t implies time(a, b) = fl(fl(compute + cut(a)) +
     * cut(b)) &gt; t as cut(b) &ge; 0, and both sums only grow with b.
     */
    private boolean growingFits(int s, int a, int b, double t) {
        return cost.compute(a, b) + cost.cut(a) <= t
                && cost.staticBytes(a, b) + cost.activationBytes(a, b, inFlight[s]) <= budget[s];
    }
}
