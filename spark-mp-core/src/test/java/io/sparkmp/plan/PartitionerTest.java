package io.sparkmp.plan;

import static io.sparkmp.plan.PlanFixtures.MIB;
import static io.sparkmp.plan.PlanFixtures.layer;
import static io.sparkmp.plan.PlanFixtures.times;
import static io.sparkmp.plan.PlanFixtures.uniform;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;

class PartitionerTest {

    /** No transfer cost to speak of: 1 PB/s, no latency. */
    private static StageCostModel free(ModelProfile p, int mb) {
        return new StageCostModel(p, mb, 1e15, 0);
    }

    private static Partitioner.Partition solve(StageCostModel c, int k, long budget, int inFlight) {
        long[] b = new long[k];
        Arrays.fill(b, budget);
        int[] n = new int[k];
        Arrays.fill(n, inFlight);
        return new Partitioner(c, k, b, n).solve();
    }

    @Test
    void uniformSplitsEvenly() {
        Partitioner.Partition p = solve(free(uniform(8, 1.0), 1), 4, Long.MAX_VALUE / 4, 1);
        assertArrayEquals(new int[] {0, 2, 4, 6, 8}, p.boundaries());
        assertEquals(2.0, p.bottleneck(), 1e-9);
    }

    @Test
    void uniformWithUnevenCountGivesTheExtraLayersWithoutRaisingTheBottleneck() {
        Partitioner.Partition p = solve(free(uniform(10, 1.0), 1), 4, Long.MAX_VALUE / 4, 1);
        assertEquals(3.0, p.bottleneck(), 1e-9);
        int[] b = p.boundaries();
        for (int s = 0; s < 4; s++) {
            int len = b[s + 1] - b[s];
            assertTrue(len == 2 || len == 3, "stage " + s + " has " + len + " layers: " + Arrays.toString(b));
        }
    }

    @Test
    void lastHeavyGetsItsOwnStage() {
        Partitioner.Partition p = solve(free(times(1, 1, 1, 1, 1, 1, 1, 8), 1), 3, Long.MAX_VALUE / 4, 1);
        assertEquals(8.0, p.bottleneck(), 1e-9);
        int[] b = p.boundaries();
        assertEquals(7, b[2], "the heavy last layer alone in the last stage: " + Arrays.toString(b));
        // Balance tie rule: the 7 light layers are shared 5 + 2 (stage 0 takes the share closest to 15/3).
        assertArrayEquals(new int[] {0, 5, 7, 8}, b);
    }

    @Test
    void midHeavyIsolatesTheHeavyLayer() {
        Partitioner.Partition p = solve(free(times(1, 1, 1, 6, 1, 1, 1), 1), 3, Long.MAX_VALUE / 4, 1);
        assertEquals(6.0, p.bottleneck(), 1e-9);
        assertArrayEquals(new int[] {0, 3, 4, 7}, p.boundaries());
    }

    @Test
    void oneGiantLayerSetsTheBottleneckOnceThereAreEnoughStages() {
        ModelProfile m = times(1, 1, 20, 1, 1, 1, 1, 1);
        // Two stages: the giant must share a stage; best is [0..2] (22) against [3..7] (5).
        assertEquals(22.0, solve(free(m, 1), 2, Long.MAX_VALUE / 4, 1).bottleneck(), 1e-9);
        for (int k = 3; k <= 6; k++) {
            Partitioner.Partition p = solve(free(m, 1), k, Long.MAX_VALUE / 4, 1);
            assertEquals(20.0, p.bottleneck(), 1e-9, "k=" + k);
            int[] b = p.boundaries();
            assertEquals(k + 1, b.length);
            // The giant (layer 2) is alone: any neighbour would push its stage over 20.
            assertTrue(Arrays.stream(b).anyMatch(x -> x == 2) && Arrays.stream(b).anyMatch(x -> x == 3),
                    "k=" + k + ": " + Arrays.toString(b));
        }
    }

    @Test
    void transferCostMovesTheCutToTheSmallActivation() {
        // Four equal layers, two stages; the activation after layer 1 is huge, after layer 0 and 2 tiny.
        List<LayerProfile> l = List.of(
                layer("a", 1, 2, 0, 10, 10, 0), layer("b", 1, 2, 0, 1_000_000, 10, 0),
                layer("c", 1, 2, 0, 10, 10, 0), layer("d", 1, 2, 0, 10, 10, 0));
        StageCostModel c = new StageCostModel(ModelProfile.of(l, 10), 1, 1e5, 0);
        Partitioner.Partition p = solve(c, 2, Long.MAX_VALUE / 4, 1);
        // Cutting at 2 would cost 10 s of transfer; cutting at 1 or 3 costs 1e-4 s.
        assertTrue(p.boundaries()[1] == 1 || p.boundaries()[1] == 3, Arrays.toString(p.boundaries()));
        assertEquals(9.0 + 1e-4, p.bottleneck(), 1e-9);
    }

    @Test
    void memoryForcesAnUnbalancedSplit() {
        // Six equal-time layers; layer 0..2 have 40 MiB static each, so stage 0 may hold at most 2 of them.
        List<LayerProfile> l = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            l.add(layer("l" + i, 1, 2, i < 3 ? 10 * MIB : 0, 16, 16, 16)); // static = 4 x 10 MiB = 40 MiB
        }
        StageCostModel c = free(ModelProfile.of(l, 16), 1);
        Partitioner.Partition unconstrained = solve(c, 2, Long.MAX_VALUE / 4, 1);
        assertArrayEquals(new int[] {0, 3, 6}, unconstrained.boundaries());
        Partitioner.Partition tight = solve(c, 2, 90 * MIB, 1);
        assertArrayEquals(new int[] {0, 2, 6}, tight.boundaries());
        assertEquals(12.0, tight.bottleneck(), 1e-9);
    }

    @Test
    void memoryInfeasibleReturnsNull() {
        List<LayerProfile> l = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            l.add(layer("l" + i, 1, 2, 10 * MIB, 16, 16, 16)); // 40 MiB static each
        }
        StageCostModel c = free(ModelProfile.of(l, 16), 1);
        assertNull(solve(c, 2, 70 * MIB, 1), "two layers per stage need 80 MiB");
        assertNotNull(solve(c, 4, 70 * MIB, 1));
    }

    @Test
    void inFlightCountPerStageDecidesWhichStageMayBeLong() {
        // 1F1B-like: stage 0 holds 4 micro-batches, stage 1 holds 1; kept activations dominate memory.
        List<LayerProfile> l = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            l.add(layer("l" + i, 1, 2, 0, 0, 10 * MIB, 0));
        }
        StageCostModel c = free(ModelProfile.of(l, 0), 1);
        Partitioner.Partition p = new Partitioner(c, 2, new long[] {85 * MIB, 85 * MIB}, new int[] {4, 1}).solve();
        // Stage 0 may hold 2 layers (4 x 20 MiB = 80 MiB), stage 1 the other 4 (40 MiB).
        assertArrayEquals(new int[] {0, 2, 6}, p.boundaries());
    }

    /** The DP's optimum equals a brute force over every contiguous split on random small instances. */
    @Test
    void equalsBruteForceOnRandomSmallInstances() {
        equalsBruteForce(false);
    }

    /** The same with activation recomputation: time and memory both change with the stage's place. */
    @Test
    void equalsBruteForceOnRandomSmallInstancesWithRecomputation() {
        equalsBruteForce(true);
    }

    private static void equalsBruteForce(boolean recompute) {
        Random rnd = new Random(recompute ? 20261201L : 20261129L);
        int feasible = 0;
        for (int inst = 0; inst < 200; inst++) {
            int n = 1 + rnd.nextInt(8);
            int k = 1 + rnd.nextInt(Math.min(4, n));
            int mb = 1 + rnd.nextInt(4);
            List<LayerProfile> l = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                l.add(new LayerProfile("l" + i, "T", 1, rnd.nextInt(100), rnd.nextInt(100), rnd.nextInt(100),
                        rnd.nextInt(50), rnd.nextInt(50), rnd.nextInt(50), 0, rnd.nextDouble() * 0.1,
                        rnd.nextDouble(), rnd.nextDouble() * 0.1, rnd.nextDouble() * 2));
            }
            ModelProfile prof = ModelProfile.of(l, rnd.nextInt(50));
            double bw = 10 + rnd.nextDouble() * 100;
            double lat = rnd.nextDouble() * 0.2;
            long[] budget = new long[k];
            int[] inFlight = new int[k];
            for (int s = 0; s < k; s++) {
                budget[s] = 200 + rnd.nextInt(3000);
                inFlight[s] = 1 + rnd.nextInt(4);
            }
            double expected = bruteForce(prof, mb, bw, lat, recompute, k, budget, inFlight);
            Partitioner.Partition got = new Partitioner(new StageCostModel(prof, mb, bw, lat, recompute), k, budget,
                    inFlight).solve();
            if (Double.isNaN(expected)) {
                assertNull(got, "instance " + inst + ": brute force finds no feasible split");
                continue;
            }
            feasible++;
            assertNotNull(got, "instance " + inst + ": brute force found " + expected);
            assertEquals(expected, got.bottleneck(), 1e-9 * Math.max(1, expected), "instance " + inst);
            // And the returned split really has that bottleneck and fits, by the independent formulas.
            int[] b = got.boundaries();
            double worst = 0;
            for (int s = 0; s < k; s++) {
                worst = Math.max(worst, time(prof, mb, bw, lat, recompute, b[s], b[s + 1]));
                assertTrue(memory(prof, mb, recompute, inFlight[s], b[s], b[s + 1]) <= budget[s], "instance " + inst);
            }
            assertEquals(expected, worst, 1e-9 * Math.max(1, expected), "instance " + inst);
        }
        assertTrue(feasible >= 60 && feasible <= 190, "want a mix of feasible and infeasible instances, got "
                + feasible + " feasible of 200");
    }

    // Independent formulas (straight sums, no prefix arrays).
    private static double time(ModelProfile p, int mb, double bw, double lat, boolean recompute, int a, int b) {
        double t = 0;
        for (int i = a; i < b; i++) {
            LayerProfile l = p.layer(i);
            double fwd = l.forwardSecondsFixed() + mb * l.forwardSecondsPerExample();
            // A non-last stage that recomputes runs each forward twice.
            t += (recompute && b < p.layerCount() ? 2 : 1) * fwd + l.backwardSecondsFixed()
                    + mb * l.backwardSecondsPerExample();
        }
        if (a > 0) {
            t += lat + mb * p.layer(a - 1).outputBytesPerExample() / bw;
        }
        if (b < p.layerCount()) {
            t += lat + mb * p.layer(b - 1).outputBytesPerExample() / bw;
        }
        return t;
    }

    private static long memory(ModelProfile p, int mb, boolean recompute, int inFlight, int a, int b) {
        long stat = 0;
        long kept = 0;
        long work = 0;
        long largestGradient = 0;
        for (int i = a; i < b; i++) {
            LayerProfile l = p.layer(i);
            // One micro-batch per step: each layer is updated after its backward, one layer's gradient at a time.
            stat += l.parameterBytes() + l.updaterBytes();
            largestGradient = Math.max(largestGradient, l.gradientBytes());
            kept += l.keptBytesPerExample();
            work = Math.max(work, l.workingBytesPerExample());
        }
        long in = a == 0 ? p.inputBytesPerExample() : p.layer(a - 1).outputBytesPerExample();
        // Recomputing: the inputs of the other in-flight micro-batches, and one micro-batch's activations.
        long activations = recompute ? (long) (inFlight - 1) * mb * in + mb * kept : (long) inFlight * mb * kept;
        return stat + largestGradient + activations + mb * work + mb * (in + p.layer(b - 1).outputBytesPerExample());
    }

    /** Best bottleneck over all contiguous splits into k non-empty stages, NaN if none fits. */
    private static double bruteForce(ModelProfile p, int mb, double bw, double lat, boolean recompute, int k,
                                     long[] budget, int[] inFlight) {
        int n = p.layerCount();
        double best = Double.NaN;
        // Choose k-1 cut positions among 1..n-1 as a bit mask.
        for (int mask = 0; mask < (1 << (n - 1)); mask++) {
            if (Integer.bitCount(mask) != k - 1) {
                continue;
            }
            int[] b = new int[k + 1];
            int j = 1;
            for (int c = 1; c < n; c++) {
                if ((mask & (1 << (c - 1))) != 0) {
                    b[j++] = c;
                }
            }
            b[k] = n;
            double worst = 0;
            boolean fits = true;
            for (int s = 0; s < k && fits; s++) {
                worst = Math.max(worst, time(p, mb, bw, lat, recompute, b[s], b[s + 1]));
                fits = memory(p, mb, recompute, inFlight[s], b[s], b[s + 1]) <= budget[s];
            }
            if (fits && (Double.isNaN(best) || worst < best)) {
                best = worst;
            }
        }
        return best;
    }
}
