package io.sparkmp.plan;

import static io.sparkmp.plan.PlanFixtures.layer;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import io.sparkmp.schedule.ActionType;
import io.sparkmp.schedule.ScheduleKind;
import io.sparkmp.schedule.SimulationResult;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The predicted timeline a report draws is the planner's own simulation: the same makespan as the plan's
 * pipeline time, for plans with latency, bandwidth-bound cuts, an optimizer step and interleaving.
 */
class PredictedTimelineTest {

    /** Six layers of 1, 2, 1, 3, 1, 2 ms per example (a third forward), 4 KiB out per example, 1 MiB of parameters. */
    private static ModelProfile profile() {
        double[] t = {1e-3, 2e-3, 1e-3, 3e-3, 1e-3, 2e-3};
        List<LayerProfile> l = new ArrayList<>();
        for (int i = 0; i < t.length; i++) {
            l.add(layer("l" + i, t[i] / 3, 2 * t[i] / 3, PlanFixtures.MIB, 4096, 4096, 4096));
        }
        return ModelProfile.of(l, 4096);
    }

    @ParameterizedTest(name = "{0} P={1} v={2} M={3} latency={4} bandwidth={5} update={6}")
    @CsvSource({
            "1f1b, 2, 1, 4, 0, 1e12, 0",
            "1f1b, 3, 1, 6, 1e-4, 1e12, 0",
            "gpipe, 2, 1, 4, 1e-4, 1e7, 0",
            "1f1b, 2, 1, 8, 1e-4, 1e8, 1e-8",
            "interleaved, 2, 2, 4, 1e-4, 1e8, 1e-8",
    })
    void makespanIsThePlansPipelineTime(String kind, int p, int v, int m, double latency, double bandwidth,
                                        double update) {
        PipelinePlanner.Builder b = PipelinePlanner.builder().profile(profile()).executors(p).stages(p).microBatches(m)
                .schedule(ScheduleKind.parse(kind)).deviceMemoryBytes(1L << 40).bandwidthBytesPerSecond(bandwidth)
                .latencySeconds(latency).batchSize(8 * m).updateSecondsPerParameter(update);
        if (v > 1) {
            b.stagesPerDevice(v);
        }
        PipelinePlan plan = b.build().plan();
        assertTrue(plan.stepTimeMethod().startsWith("simulated"), plan.stepTimeMethod());

        SimulationResult predicted = PredictedTimeline.of(plan);

        assertEquals(plan.pipelineSeconds(), predicted.makespan(), 1e-9 * plan.pipelineSeconds());
        assertEquals(p, predicted.timeline().size(), "one row per device");
        long sends = predicted.timeline().stream().flatMap(List::stream)
                .filter(a -> a.action().type() == ActionType.SEND_F).count();
        assertEquals((long) (p * v - 1) * m, sends, "a SEND_F per micro-batch per cut");
        double wire = predicted.timeline().stream().flatMap(List::stream)
                .filter(a -> a.action().type() == ActionType.SEND_F && a.action().stage() == 0)
                .mapToDouble(a -> a.end() - a.start()).findFirst().orElseThrow();
        assertEquals(plan.stage(0).bytesSentForward() / bandwidth, wire, 1e-15, "a send takes bytes / bandwidth");
    }

    /**
     * The last stage's forward runs with its backward (DL4J's calculateGradients), so its F is free and its B
     * costs forward + backward. Two equal stages, forward 1 ms and backward 2 ms per micro-batch, no transfer or
     * update costs, M = 4: under GPipe the last stage computes nothing until stage 0's four forwards are done (4 ms),
     * then four B of 3 ms, and stage 0's last backward follows: 4 + 4·3 + 2 = 18 ms, not the (M + P − 1)(F + B) =
     * 15 ms of eager forwards; under 1F1B the last stage runs each B right after its F, so 15 ms either way.
     */
    @ParameterizedTest(name = "{0}: {1} ms")
    @CsvSource({"gpipe, 18", "1f1b, 15"})
    void theLastStagesForwardRunsWithItsBackward(String kind, double expectedMs) {
        ModelProfile two = ModelProfile.of(List.of(layer("a", 1e-3, 2e-3, 4096, 64, 64, 64),
                layer("b", 1e-3, 2e-3, 4096, 64, 64, 64)), 64);
        PipelinePlan plan = PipelinePlanner.builder().profile(two).executors(2).stages(2).microBatches(4)
                .schedule(ScheduleKind.parse(kind)).recompute(RecomputeMode.NEVER).deviceMemoryBytes(1L << 40)
                .bandwidthBytesPerSecond(1e15).latencySeconds(0).batchSize(4).updateSecondsPerParameter(0)
                .build().plan();

        SimulationResult predicted = PredictedTimeline.of(plan);

        assertEquals(expectedMs * 1e-3, predicted.makespan(), 1e-6);
        List<io.sparkmp.schedule.SimulationResult.TimedAction> last = predicted.timeline().get(1);
        double firstBackward = last.stream().filter(a -> a.action().type() == ActionType.BACKWARD)
                .mapToDouble(a -> a.start()).min().orElseThrow();
        assertEquals("gpipe".equals(kind) ? 4e-3 : 1e-3, firstBackward, 1e-6, "the last stage's first B starts");
        assertTrue(last.stream().filter(a -> a.action().type() == ActionType.FORWARD)
                .allMatch(a -> a.end() - a.start() == 0), "the last stage's F take no time");
    }

    @Test
    void noPlanIsRejected() {
        assertThrows(IllegalArgumentException.class, () -> PredictedTimeline.of(null));
    }
}
