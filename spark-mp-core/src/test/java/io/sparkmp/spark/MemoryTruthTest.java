package io.sparkmp.spark;

import io.sparkmp.model.LayerProfiler;
import io.sparkmp.plan.PipelinePlan;
import io.sparkmp.plan.PipelinePlanner;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The budget rule, the peak sampler and predicted-versus-measured memory per device, without Spark. */
class MemoryTruthTest {

    private static final long MIB = 1L << 20;

    @Test
    void budgetIsTheCapLessWhatTheProcessHoldsLessTheMargin() {
        ResidentProbe p = new ResidentProbe(1500 * MIB, 223 * MIB, 512 * MIB, "executor 1");
        assertEquals(1500 * MIB - 223 * MIB - PlanResolver.MARGIN_BYTES, PlanResolver.budget(p, 1));
        // Local mode: the ranks share the one process and its cap.
        assertEquals((1500 * MIB - 223 * MIB - PlanResolver.MARGIN_BYTES) / 2, PlanResolver.budget(p, 2));
        // The old rule (cap less the whole heap) gave 988 MiB here.
        assertTrue(PlanResolver.budget(p, 1) > 988 * MIB);
    }

    @Test
    void anUncappedProcessGetsItsHeap() {
        assertEquals(512 * MIB, new ResidentProbe(0, 223 * MIB, 512 * MIB, "executor 1").budget(PlanResolver.MARGIN_BYTES));
    }

    @Test
    void aProcessThatHoldsItsCapIsRejectedNamingTheFigures() {
        ResidentProbe p = new ResidentProbe(300 * MIB, 223 * MIB, 512 * MIB, "executor 7");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PlanResolver.budget(p, 1));
        assertTrue(e.getMessage().contains("executor 7") && e.getMessage().contains("314572800 bytes (300.0 MiB)")
                && e.getMessage().contains("233832448 bytes (223.0 MiB)") && e.getMessage().contains("spark.mp.device.memory")
                && e.getMessage().contains("maxphysicalbytes"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> PlanResolver.budget(
                new ResidentProbe(1500 * MIB, 223 * MIB, 512 * MIB, "x"), 0));
    }

    @Test
    void theSamplerKeepsEachStepsPeakAndStops() throws Exception {
        AtomicLong resident = new AtomicLong(100);
        PeakMemorySampler s = new PeakMemorySampler(resident::get, 10, 60);
        assertEquals(100, s.startBytes());
        resident.set(500); // a transient peak inside the first step
        Thread.sleep(80);
        resident.set(200);
        Thread.sleep(40);
        assertEquals(500, s.endStep());
        Thread.sleep(40);
        assertEquals(200, s.endStep()); // the next window starts at the current value
        s.stop();
        assertFalse(s.sampling());
        assertEquals(-1, s.endStep());
        s.close(); // twice is fine
    }

    @Test
    void theSamplerStopsAtItsTimeBoundAndRejectsAShortPeriod() throws Exception {
        try (PeakMemorySampler s = new PeakMemorySampler(() -> 1, 10, 1)) {
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (s.sampling() && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertFalse(s.sampling(), "still sampling after 5 s with a 1 s bound");
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new PeakMemorySampler(() -> 1, 5, 1));
        assertEquals("periodMs must be >= 10, found 5", e.getMessage());
    }

    @Test
    void mergedStepsKeepEachRanksSamplesInRankOrder() {
        StepReport r = StepReport.merge(List.of(
                new RankStep(1, 0, 0, 0, 1.0, 8, 10, 5, 300, 700),
                new RankStep(0, 0, 0, 0, Double.NaN, 8, 10, 5, 200, 400)), 1);
        assertEquals(List.of(new RankMemory(0, 200, 400), new RankMemory(1, 300, 700)), r.memory());
        StepReport unsampled = StepReport.merge(List.of(new RankStep(0, 0, 0, 5, 1.0, 8, 10, 5, 200, -1)), 0);
        assertTrue(unsampled.memory().isEmpty());
    }

    @Test
    void stageMemoryPutsThePlansEstimateNextToTheMeasuredPeak() {
        PipelinePlan plan = PipelinePlanner.builder()
                .profile(LayerProfiler.builder().build().analytic(PlannedTrainingTest.model(64), InputType.feedForward(8), 1e9))
                .executors(2).deviceMemoryBytes(1L << 30).bandwidthBytesPerSecond(1e9).batchSize(8).stages(2)
                .microBatches(2).build().plan();
        List<StepReport> metrics = List.of(
                new StepReport(0, 0, 1, 8, 1, 8, 0, List.of(new RankMemory(0, 1000, 5000), new RankMemory(1, 2000, 3000))),
                new StepReport(0, 1, 1, 8, 1, 8, 0, List.of(new RankMemory(0, 1000, 6000), new RankMemory(1, 2000, 2500))),
                new StepReport(0, 2, 1, 8, 1, 8, 0));
        List<StageMemoryUse> m = StageMemoryUse.of(plan, metrics);
        assertEquals(2, m.size());
        for (int d = 0; d < 2; d++) {
            assertEquals(d, m.get(d).device());
            assertEquals(List.of(d), m.get(d).stages());
            assertEquals(plan.stages().get(d).memory().totalBytes(), m.get(d).predictedBytes());
        }
        assertEquals(5000, m.get(0).measuredBytes());
        assertEquals(1000, m.get(1).measuredBytes());
        assertEquals((m.get(1).predictedBytes() - 1000) / 1000.0, m.get(1).relativeError(), 1e-12);
        String table = StageMemoryUse.table(m);
        assertEquals(3, table.split("\n").length, table);
        assertTrue(table.startsWith("device"), table);
        assertTrue(StageMemoryUse.of(null, metrics).isEmpty());
        assertTrue(StageMemoryUse.of(plan, List.of(metrics.get(2))).isEmpty());
    }
}
