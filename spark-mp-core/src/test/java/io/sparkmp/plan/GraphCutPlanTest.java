package io.sparkmp.plan;

import static io.sparkmp.plan.PlanFixtures.timed;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import io.sparkmp.schedule.ScheduleKind;
import org.junit.jupiter.api.Test;

/** A graph profile's cut costs every tensor crossing the cut: the partitioner avoids cutting a heavy skip. */
class GraphCutPlanTest {

    /** Four equal layers; the cut before l2 also carries a 3 MB-per-example skip from l0 to l3. */
    private static ModelProfile skipOverTheMiddle() {
        List<LayerProfile> l = List.of(timed("l0", 1), timed("l1", 1), timed("l2", 1), timed("l3", 1));
        List<CutProfile> cuts = List.of(new CutProfile(List.of(), 0), new CutProfile(List.of("l0"), 64),
                new CutProfile(List.of("l0", "l1"), 64 + 3_000_000), new CutProfile(List.of("l0", "l2"), 64 + 64),
                new CutProfile(List.of(), 0));
        return new ModelProfile(l, 64, "FLOAT", "Adam", ModelProfile.TimeSource.ANALYTIC, 0, "", cuts);
    }

    private static PipelinePlan plan(ModelProfile p) {
        return PipelinePlanner.builder().profile(p).executors(2).deviceMemoryBytes(1L << 30).bandwidthBytesPerSecond(1e6)
                .latencySeconds(0).batchSize(1).stages(2).microBatches(1).schedule(ScheduleKind.GPIPE).build().plan();
    }

    @Test
    void heavyCrossingCutIsAvoided() {
        ModelProfile graph = skipOverTheMiddle();
        // The same layers as a chain: the middle cut carries l1's 64 bytes only, and balances the stages best.
        ModelProfile chain = ModelProfile.of(graph.layers(), 64);
        assertArrayEquals(new int[] {0, 2, 4}, plan(chain).boundaries());
        PipelinePlan p = plan(graph);
        assertTrue(p.boundaries()[1] != 2, "cut the 3 MB skip: " + p);
        int k = p.boundaries()[1];
        assertEquals(graph.cuts().get(k).bytesPerExample(), p.stages().get(0).bytesSentForward());
        assertEquals(graph.cutTensors(k), p.stages().get(0).sentTensors());
        String explain = p.explain();
        assertTrue(explain.contains("cut 0|1 (before layer " + k + ") carries " + graph.cutTensors(k).size()), explain);
        assertTrue(explain.contains(String.join(", ", graph.cutTensors(k))), explain);
    }

    @Test
    void aStageHoldingASkipCountsItInItsReceiveBuffers() {
        ModelProfile graph = skipOverTheMiddle();
        StageCostModel cost = new StageCostModel(graph, 4, 1e9, 0);
        // stage [2, 4) receives l0 and l1: 4 examples x (64 + 3e6) bytes, and sends nothing on (labels aside)
        assertEquals(4L * (64 + 3_000_000) + 4L * 64, cost.receiveBytes(2, 4));
        assertEquals(4L * (64 + 3_000_000), cost.cutBytes(2));
    }

    @Test
    void cutsRoundTripThroughJsonAndAreCheckedForLength() {
        ModelProfile graph = skipOverTheMiddle();
        assertEquals(graph, ModelProfile.fromJson(graph.toJson()));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new ModelProfile(graph.layers(),
                64, "FLOAT", "", ModelProfile.TimeSource.ANALYTIC, 0, "", graph.cuts().subList(0, 3)));
        assertEquals("a graph profile needs one cut per position 0..4 (5 entries), found 3", e.getMessage());
    }
}
