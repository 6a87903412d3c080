package io.sparkmp.plan;

import static io.sparkmp.plan.PlanFixtures.GIB;
import static io.sparkmp.plan.PlanFixtures.uniform;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparkmp.schedule.HostSharing;
import io.sparkmp.schedule.ScheduleKind;
import org.junit.jupiter.api.Test;

/** The planner on executors that share hosts ({@link PipelinePlanner.Builder#hostSharing}). */
class HostSharingPlanTest {

    private static PipelinePlanner.Builder base(int executors) {
        return PipelinePlanner.builder().profile(uniform(8, 1e-3)).executors(executors).deviceMemoryBytes(8 * GIB)
                .bandwidthBytesPerSecond(1e15).latencySeconds(0).batchSize(64);
    }

    private static PipelinePlan twoStages(PipelinePlanner.Builder b, ScheduleKind kind) {
        return b.stages(2).replicas(1).microBatches(8).schedule(kind).build().plan();
    }

    @Test
    void devicesOfOneHostAreSlowedWhereTheyOverlapAndTheExplainSaysHow() {
        for (ScheduleKind kind : new ScheduleKind[] {ScheduleKind.ONE_F_ONE_B, ScheduleKind.GPIPE}) {
            PipelinePlan alone = twoStages(base(2), kind);
            PipelinePlan shared = twoStages(base(2).hostSharing(2, 1.5), kind);
            assertEquals(HostSharing.NONE, alone.hostSharing());
            assertEquals(new HostSharing(2, 1, 1.5), shared.hostSharing());
            assertEquals(alone.stages(), shared.stages(), "the same split and stage costs");
            double ratio = shared.predictedStepSeconds() / alone.predictedStepSeconds();
            // With M = 8 both stages compute at once for most of the step, but never during the fill and drain.
            assertTrue(ratio > 1.2 && ratio < 1.5, kind + ": " + ratio);
            assertTrue(shared.explain().contains("host sharing: 2 devices x 1 per host, 1.500x while all compute"),
                    shared.explain());
            assertFalse(alone.explain().contains("host sharing"), alone.explain());
        }
    }

    @Test
    void oneStageIsNotSlowedByAnIdleSlotBesideIt() {
        PipelinePlan one = base(2).hostSharing(2, 1.5).stages(1).replicas(1).microBatches(1)
                .schedule(ScheduleKind.ONE_F_ONE_B).build().plan();
        PipelinePlan none = base(2).stages(1).replicas(1).microBatches(1).schedule(ScheduleKind.ONE_F_ONE_B).build()
                .plan();
        assertEquals(none.predictedStepSeconds(), one.predictedStepSeconds(), 1e-12);
    }

    /**
     * Two stages on one shared host against one device alone: with a slowdown as large as the pipeline's gain the
     * planner no longer picks two stages, the closed form ranking charges the sharing as the simulation does.
     */
    @Test
    void aLargeEnoughSlowdownMakesTheSingleDeviceThePlannersChoice() {
        PipelinePlan free = base(2).replicas(1).build().plan();
        PipelinePlan slow = base(2).replicas(1).hostSharing(2, 3.0).build().plan();
        assertEquals(2, free.devices(), free.explain());
        assertEquals(1, slow.devices(), slow.explain());
    }

    @Test
    void candidatesFillHostsInOrder() {
        PipelinePlanner p = base(4).hostSharing(2, 1.6).build();
        assertEquals(new HostSharing(2, 1, 1.6), p.sharing(2, 1));
        assertEquals(new HostSharing(2, 1, 1.6), p.sharing(4, 1), "two hosts of two devices each");
        assertEquals(new HostSharing(1, 2, 1.6), p.sharing(1, 2), "two replicas of one device on one host");
        assertEquals(HostSharing.NONE, p.sharing(1, 1), "one task alone");
        PipelinePlanner four = base(4).hostSharing(4, 1.6).build();
        assertEquals(new HostSharing(2, 2, 1.6), four.sharing(2, 2));
        HostSharing half = four.sharing(2, 1);
        assertEquals(2, half.tasksPerHost());
        assertEquals(1.2, half.slowdown(), 1e-12, "two of the host's four tasks: a third of the way");
        assertEquals(HostSharing.NONE, base(4).build().sharing(2, 1), "not set: nothing shared");
    }

    @Test
    void badSharingIsRefusedNamingTheValue() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> base(2).hostSharing(0, 1.5)).getMessage()
                .contains("found 0"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> base(2).hostSharing(2, 0.5)).getMessage()
                .contains("found 0.5"));
        assertThrows(IllegalStateException.class, () -> base(2).hostSharing(2, 1.5).hostSharing(2, 1.5));
    }
}
