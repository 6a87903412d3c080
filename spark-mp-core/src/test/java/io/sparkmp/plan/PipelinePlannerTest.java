package io.sparkmp.plan;

import static io.sparkmp.plan.PlanFixtures.MIB;
import static io.sparkmp.plan.PlanFixtures.layer;
import static io.sparkmp.plan.PlanFixtures.uniform;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparkmp.schedule.ScheduleKind;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;

class PipelinePlannerTest {

    private static final double FAST_LINK = 1e15;

    /** n layers, each 10 MiB of parameters (40 MiB with gradients and Adam), 1 s per example, tiny activations. */
    private static ModelProfile heavyParams(int n) {
        List<LayerProfile> l = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            l.add(layer("l" + i, 1.0 / 3, 2.0 / 3, 10 * MIB, 16, 16, 16));
        }
        return ModelProfile.of(l, 16);
    }

    private static PipelinePlanner.Builder base(ModelProfile p, int executors, long budget, int batch) {
        return base(p, executors, budget, batch, 0);
    }

    private static PipelinePlanner.Builder base(ModelProfile p, int executors, long budget, int batch, double latency) {
        return PipelinePlanner.builder().profile(p).executors(executors).deviceMemoryBytes(budget)
                .bandwidthBytesPerSecond(FAST_LINK).batchSize(batch).latencySeconds(latency);
    }

    @Test
    void fewestStagesThatFitWhenPipeliningCannotPay() {
        // One example per step: no micro-batches to overlap, so every extra stage only adds transfers.
        // 8 layers x 40 MiB, 130 MiB per device: 3 layers per device at most -> 3 stages.
        PipelinePlan plan = base(heavyParams(8), 4, 130 * MIB, 1, 1e-3).build().plan();
        assertEquals(3, plan.devices());
        assertEquals(1, plan.replicas());
        assertEquals(1, plan.microBatches());
        for (StagePlan s : plan.stages()) {
            assertTrue(s.memory().fits(), s.toString());
            assertTrue(s.layerCount() <= 3, s.toString());
        }
    }

    @Test
    void moreStagesThanFitWhenPredictedFaster() {
        // Everything fits on one device, but the batch of 64 gives 64 micro-batches to pipeline over 4 devices
        // of a model whose gradients are expensive to all-reduce (data parallel would pay that).
        List<LayerProfile> l = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            l.add(layer("l" + i, 1e-3, 2e-3, 100 * MIB, 16, 16, 16));
        }
        ModelProfile p = ModelProfile.of(l, 16);
        PipelinePlan chosen = PipelinePlanner.builder().profile(p).executors(4).deviceMemoryBytes(64L << 30)
                .bandwidthBytesPerSecond(1e9).latencySeconds(0).batchSize(64).build().plan();
        PipelinePlan oneStage = PipelinePlanner.builder().profile(p).executors(4).deviceMemoryBytes(64L << 30)
                .bandwidthBytesPerSecond(1e9).latencySeconds(0).batchSize(64).stages(1).replicas(4).microBatches(1)
                .schedule(ScheduleKind.ONE_F_ONE_B).build().plan();
        assertEquals(4, chosen.devices(), chosen.explain());
        assertEquals(1, chosen.replicas());
        assertTrue(chosen.predictedStepSeconds() < oneStage.predictedStepSeconds(),
                chosen.predictedStepSeconds() + " vs " + oneStage.predictedStepSeconds());
        // One stage with 4 replicas, 16 examples each: forward and loss 64 ms, then the top layer's backward (32 ms)
        // hands its gradient over at 96 ms, and the four layers' ring passes of 2 (3/4) 100 MiB / 1 GB/s follow
        // one another (each layer below is ready before the pass above it ends).
        double pass = 2.0 * 3 / 4 * (100.0 * MIB) / 1e9;
        assertEquals(0.096 + 4 * pass, oneStage.predictedStepSeconds(), 1e-9, oneStage.explain());
        assertEquals(4, oneStage.replicas());
    }

    @Test
    void replicasChosenByPredictedStepNotByExecutorCount() {
        // The model of moreStagesThanFitWhenPredictedFaster on one stage (1F1B, M = 1) with R free, over 1 GB/s:
        // R = 4: 16 examples each, the last of the four 157.2864 ms passes ends at 96 + 4 x 157.2864 = 725.1456 ms;
        // R = 2: 32 each, forward and loss 128 ms, layers ready every 64 ms from 192 ms, passes of 104.8576 ms:
        //        192 + 4 x 104.8576 = 611.4304 ms; R = 1: 64 x 12 ms = 768 ms, pruned by its bound (768 ms).
        // Neither the most replicas nor none: R = 2.
        List<LayerProfile> l = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            l.add(layer("l" + i, 1e-3, 2e-3, 100 * MIB, 16, 16, 16));
        }
        PipelinePlan slowLink = PipelinePlanner.builder().profile(ModelProfile.of(l, 16)).executors(4)
                .deviceMemoryBytes(64L << 30).bandwidthBytesPerSecond(1e9).latencySeconds(0).batchSize(64).stages(1)
                .microBatches(1).schedule(ScheduleKind.ONE_F_ONE_B).build().plan();
        assertEquals(2, slowLink.replicas(), slowLink.explain());
        assertEquals(0.6114304, slowLink.predictedStepSeconds(), 1e-9);
        assertEquals("R = 2 chosen by predicted step (611.430 ms) over R = 1 at least 768.000 ms (bound), "
                + "R = 4 best 725.146 ms (P = 1, M = 1)", slowLink.replicasReason());
        assertTrue(slowLink.explain().contains("replicas: R = 2 chosen by predicted step"), slowLink.explain());
        // A link 1000x faster: every pass but the bottom layer's hides behind the backward and R = 4 wins:
        // 192 ms + one pass of 0.157 ms.
        PipelinePlan fastLink = PipelinePlanner.builder().profile(ModelProfile.of(l, 16)).executors(4)
                .deviceMemoryBytes(64L << 30).bandwidthBytesPerSecond(1e12).latencySeconds(0).batchSize(64).stages(1)
                .microBatches(1).schedule(ScheduleKind.ONE_F_ONE_B).build().plan();
        assertEquals(4, fastLink.replicas(), fastLink.explain());
        assertEquals(0.192 + 2.0 * 3 / 4 * (100.0 * MIB) / 1e12, fastLink.predictedStepSeconds(), 1e-9);
    }

    @Test
    void replicasLimitedWithItsReason() {
        List<LayerProfile> l = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            l.add(layer("l" + i, 1e-3, 2e-3, MIB, 16, 16, 16));
        }
        PipelinePlanner.Builder b = PipelinePlanner.builder().profile(ModelProfile.of(l, 16)).executors(4)
                .deviceMemoryBytes(64L << 30).bandwidthBytesPerSecond(1e12).latencySeconds(0).batchSize(64).stages(1)
                .microBatches(1);
        assertEquals(4, b.build().plan().replicas()); // unlimited: the fast link makes R = 4 the fastest
        PipelinePlan limited = b.maxReplicas(1, "layer 2 (BatchNormalization) normalises per replica").build().plan();
        assertEquals(1, limited.replicas());
        assertEquals("R = 1: layer 2 (BatchNormalization) normalises per replica", limited.replicasReason());
        assertTrue(limited.explain().contains("replicas: R = 1: layer 2 (BatchNormalization)"), limited.explain());
        // A batch no R in 2..4 divides: R = 1, and the reason names the batch.
        PipelinePlan prime = PipelinePlanner.builder().profile(ModelProfile.of(l, 16)).executors(4)
                .deviceMemoryBytes(64L << 30).bandwidthBytesPerSecond(1e12).latencySeconds(0).batchSize(7).stages(1)
                .build().plan();
        assertEquals(1, prime.replicas());
        assertEquals("R = 1: no R in 2..4 (executors 4 / P 1) divides batch 7", prime.replicasReason());
        // A batch R = 2 divides, but not R x M with M = 4 fixed: R = 1, and the reason names M.
        PipelinePlan withM = PipelinePlanner.builder().profile(ModelProfile.of(l, 16)).executors(4)
                .deviceMemoryBytes(64L << 30).bandwidthBytesPerSecond(1e12).latencySeconds(0).batchSize(12).stages(2)
                .microBatches(4).build().plan();
        assertEquals(1, withM.replicas());
        assertEquals("R = 1: no R in 2..2 (executors 4 / P 2) with R x microBatches (R x 4) dividing batch 12",
                withM.replicasReason());
        PipelinePlan given = PipelinePlanner.builder().profile(ModelProfile.of(l, 16)).executors(4)
                .deviceMemoryBytes(64L << 30).bandwidthBytesPerSecond(1e12).latencySeconds(0).batchSize(64).stages(2)
                .replicas(2).build().plan();
        assertEquals("R = 2 given", given.replicasReason());
        IllegalArgumentException over = assertThrows(IllegalArgumentException.class, () -> PipelinePlanner.builder()
                .profile(ModelProfile.of(l, 16)).executors(4).deviceMemoryBytes(64L << 30).bandwidthBytesPerSecond(1e12)
                .batchSize(64).replicas(2).maxReplicas(1, "BatchNormalization").build());
        assertEquals("replicas (2) exceed maxReplicas (1): BatchNormalization", over.getMessage());
    }

    @Test
    void microBatchCountBalancesFixedCostAgainstBubble() {
        // 4 layers on 4 devices, each layer call costs 1 s fixed + 1 s per example (forward+backward).
        // Step (uniform) = (M + P - 1) * (1 + 64 / M): M=8 -> 99, M=16 -> 95, M=32 -> 105: M = 16.
        List<LayerProfile> l = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            l.add(new LayerProfile("l" + i, "Dense", 1, 4, 4, 8, 1, 1, 1, 0, 0.5, 0.5, 0.5, 0.5));
        }
        PipelinePlan plan = base(ModelProfile.of(l, 1), 4, 1L << 30, 64).stages(4).schedule(ScheduleKind.ONE_F_ONE_B)
                .build().plan();
        assertEquals(16, plan.microBatches());
        assertEquals(4, plan.microBatchSize());
        assertEquals(95.0, plan.predictedStepSeconds(), 1e-6);
        assertEquals("simulated", plan.stepTimeMethod());
        // Busy: 4 devices x 16 micro-batches x 5 s out of 4 x 95 s.
        assertEquals(1 - 16 * 5.0 / 95, plan.bubbleFraction(), 1e-9);
        assertArrayEquals(new int[] {0, 1, 2, 3, 4}, plan.boundaries());
    }

    @Test
    void interleavedClosedFormAndPlacement() {
        PipelinePlan plan = base(uniform(8, 1.0), 2, 1L << 30, 4).stages(2).stagesPerDevice(2).microBatches(4)
                .build().plan();
        assertEquals(ScheduleKind.INTERLEAVED_1F1B, plan.schedule());
        assertArrayEquals(new int[] {0, 2, 4, 6, 8}, plan.boundaries());
        assertEquals(List.of(0, 1, 0, 1), plan.stages().stream().map(StagePlan::device).toList());
        // Chunks of 2 s: (M v + P - 1) * 2 = (8 + 1) * 2 = 18 s.
        assertEquals(18.0, plan.predictedStepSeconds(), 1e-6);
    }

    @Test
    void oneFOneBInFlightAndMemoryPerStage() {
        // Kept activations dominate: 1 MiB per example per layer.
        List<LayerProfile> l = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            l.add(layer("l" + i, 1, 2, 4096, 1024, MIB, 2048));
        }
        ModelProfile p = ModelProfile.of(l, 512);
        PipelinePlan plan = base(p, 4, 1L << 30, 8).stages(4).microBatches(8).schedule(ScheduleKind.ONE_F_ONE_B)
                .build().plan();
        for (StagePlan s : plan.stages()) {
            StageMemory m = s.memory();
            assertEquals(Math.min(8, 4 - s.index()), m.inFlight(), "stage " + s.index());
            // One layer per stage, micro-batch of 1 example; M = 8: the gradient and the one-layer scratch (as large).
            long in = s.index() == 0 ? 512 : 1024;
            assertEquals(4096 + 2 * 4096 + 8192 + m.inFlight() * MIB + 2048 + in + 1024, m.totalBytes(),
                    "stage " + s.index());
        }
        PipelinePlan gpipe = base(p, 4, 1L << 30, 8).stages(4).microBatches(8).schedule(ScheduleKind.GPIPE)
                .build().plan();
        assertTrue(gpipe.stages().stream().allMatch(s -> s.memory().inFlight() == 8));
    }

    @Test
    void gpipeThatDoesNotFitIsRejectedWhere1F1BFits() {
        List<LayerProfile> l = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            l.add(layer("l" + i, 1, 2, 4096, 1024, 10 * MIB, 2048));
        }
        ModelProfile p = ModelProfile.of(l, 512);
        // 8 micro-batches x 10 MiB = 80 MiB > 64 MiB; 1F1B holds at most 4 x 10 MiB.
        PipelinePlan ok = base(p, 4, 64 * MIB, 8).stages(4).microBatches(8).build().plan();
        assertEquals(ScheduleKind.ONE_F_ONE_B, ok.schedule());
        InfeasiblePlanException e = assertThrows(InfeasiblePlanException.class,
                () -> base(p, 4, 64 * MIB, 8).stages(4).microBatches(8).schedule(ScheduleKind.GPIPE).build().plan());
        assertTrue(e.getMessage().contains("4 stages") && e.getMessage().contains("64.0 MiB"), e.getMessage());
    }

    @Test
    void replicasUseSpareExecutors() {
        PipelinePlan plan = base(uniform(8, 1.0), 8, 1L << 30, 48).stages(2).build().plan();
        assertEquals(2, plan.devices());
        assertEquals(4, plan.replicas()); // 8 / 2 = 4 divides 48
        assertEquals(8, plan.executors());
        assertEquals(48, plan.replicas() * plan.microBatches() * plan.microBatchSize());
        PipelinePlan odd = base(uniform(8, 1.0), 8, 1L << 30, 30).stages(2).build().plan();
        assertEquals(3, odd.replicas(), "largest divisor of 30 that is <= 4");
    }

    @Test
    void theSimulatedStepOverlapsEachLayersAllReduceWithTheRemainingBackward() {
        // 4 layers of 100 MiB gradients, 32 ms forward and 64 ms backward each on a micro-batch of 32, nothing sent
        // between stages, latency 0: P = 2 (layers 0-1, 2-3) x R = 2, M = 1, over a 1 GB/s link, so one layer's
        // ring pass takes 2 (2 - 1) / 2 x 100 MiB / 1e9 = 104.8576 ms. By hand:
        //   device 0: F(0) 0-64; B(0) 256-384 (layer 1 done at 320, layer 0 at 384)
        //   device 1: B(1) 64-256, its forward and loss first (layer 3 done at 192, layer 2 at 256)
        //   device 1's all-reduce thread: layer 3 192-296.8576, layer 2 296.8576-401.7152 = ALLREDUCE(1)'s end
        //   device 0's: layer 1 320-424.8576, layer 0 424.8576-529.7152 = ALLREDUCE(0)'s end = the step
        // Charged whole after the backward (the old model) the step would be 384 + 209.7152 = 593.7152 ms.
        PipelinePlan plan = twoByTwo(true);
        assertArrayEquals(new int[] {0, 2, 4}, plan.boundaries());
        double pass = 100.0 * MIB / 1e9;
        assertSums(plan.stage(1).allReduces(), pass, 0.128, 0.192);
        assertSums(plan.stage(0).allReduces(), pass, 0.064, 0.128);

        io.sparkmp.schedule.SimulationResult sim = PredictedTimeline.of(plan);
        io.sparkmp.schedule.SimulationResult.TimedAction ar0 = only(sim, 0, io.sparkmp.schedule.ActionType.ALLREDUCE);
        io.sparkmp.schedule.SimulationResult.TimedAction ar1 = only(sim, 1, io.sparkmp.schedule.ActionType.ALLREDUCE);
        io.sparkmp.schedule.SimulationResult.TimedAction b0 = only(sim, 0, io.sparkmp.schedule.ActionType.BACKWARD);
        io.sparkmp.schedule.SimulationResult.TimedAction b1 = only(sim, 1, io.sparkmp.schedule.ActionType.BACKWARD);
        assertEquals(0.064, b1.start(), 1e-12);
        assertEquals(0.256, b1.end(), 1e-12);
        assertEquals(0.256, b0.start(), 1e-12);
        assertEquals(0.384, b0.end(), 1e-12);
        assertEquals(0.192 + 2 * pass, ar1.end(), 1e-12);
        assertEquals(0.320 + 2 * pass, ar0.end(), 1e-12);
        assertEquals(0.5297152, sim.makespan(), 1e-12);
        assertEquals(sim.makespan(), plan.predictedStepSeconds(), 1e-12);
        assertEquals(0.384, plan.pipelineSeconds(), 1e-12, plan.explain());
        assertEquals(0.5297152 - 0.384, plan.allreduceSeconds(), 1e-12, plan.explain());
        // Waiting for the sums is idle, not busy: 192 ms of compute on each device over the step.
        assertEquals(1 - 2 * 0.192 / (2 * 0.5297152), sim.bubbleFraction(), 1e-12);
        assertEquals(0.192, sim.busyByDevice().get(0), 1e-12);
        assertTrue(plan.stepTimeMethod().endsWith(" + all-reduce overlapped per layer"), plan.stepTimeMethod());
    }

    @Test
    void sumsThatShareTheDevicesCoresRunAfterItsBackward() {
        // The case above with allReduceBesideBackward(false) (ND4J's CPU backend): every sum is handed over when the
        // stage's last backward is done (stage 0 at 128 ms into it, stage 1 at 192 ms: forward and loss first), so
        // device 1's run 256-465.7152 and device 0's 384-593.7152 = the step.
        PipelinePlan plan = twoByTwo(false);
        double pass = 100.0 * MIB / 1e9;
        assertSums(plan.stage(1).allReduces(), pass, 0.192, 0.192);
        assertSums(plan.stage(0).allReduces(), pass, 0.128, 0.128);
        io.sparkmp.schedule.SimulationResult sim = PredictedTimeline.of(plan);
        assertEquals(0.256 + 2 * pass, only(sim, 1, io.sparkmp.schedule.ActionType.ALLREDUCE).end(), 1e-12);
        assertEquals(0.384 + 2 * pass, only(sim, 0, io.sparkmp.schedule.ActionType.ALLREDUCE).end(), 1e-12);
        assertEquals(0.5937152, sim.makespan(), 1e-12);
        assertEquals(sim.makespan(), plan.predictedStepSeconds(), 1e-12);
        assertEquals(0.5937152 - 0.384, plan.allreduceSeconds(), 1e-12, plan.explain());
        assertTrue(plan.stepTimeMethod().endsWith(" + all-reduce after the backward (it shares the device's cores)"),
                plan.stepTimeMethod());
    }

    @Test
    void oneAllReduceThreadPerDeviceQueuesTheSumsOfItsVirtualStages() {
        // Interleaved on one device (v = 2), R = 4 (micro-batch of 16: 16 ms forward, 32 ms backward per layer),
        // M = 1, the layers above: F(0) 0-32, then virtual stage 1 (layers 2-3) its forward and loss and backward
        // 32-128 ms (layer 3 handed over at 96, layer 2 at 128), stage 0 its backward 128-192 (layer 1 at 160,
        // layer 0 at 192). One thread, passes of 1.5 x 104.8576 = 157.2864 ms: 96-253.2864, -410.5728, then stage
        // 0's layer 1 -567.8592 and layer 0 -725.1456: the step. A thread per stage would have ended stage 0's
        // sums at 160 + 2 passes = 474.5728 ms.
        List<LayerProfile> l = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            l.add(layer("l" + i, 1e-3, 2e-3, 100 * MIB, 0, 16, 16));
        }
        PipelinePlan plan = PipelinePlanner.builder().profile(ModelProfile.of(l, 0)).executors(4)
                .deviceMemoryBytes(64L << 30).bandwidthBytesPerSecond(1e9).latencySeconds(0).batchSize(64).stages(1)
                .replicas(4).microBatches(1).schedule(ScheduleKind.INTERLEAVED_1F1B).boundaries(0, 2, 4).build()
                .plan();
        double pass = 1.5 * 100.0 * MIB / 1e9;
        io.sparkmp.schedule.SimulationResult sim = PredictedTimeline.of(plan);
        assertEquals(0.096 + 4 * pass, sim.makespan(), 1e-12, sim.timeline().toString());
        assertEquals(sim.makespan(), plan.predictedStepSeconds(), 1e-12);
    }

    @Test
    void oneDeviceIsNeverCutIntoVirtualStagesByTheChoiceAlone() {
        // Two executors, sums charged after the backward (CPU), 4 layers of 1 MiB gradients, batch 2: P = 1 x R = 2
        // steps in 12 ms of compute + 4 sums of 1.05 ms; as two virtual stages on its one device the upper stage's
        // sums would overlap the lower stage's backward on the same cores (predicted 14.1 ms, chosen before this
        // rule). Virtual stages on one device shrink no bubble: left free the planner never picks them; asked for,
        // they are still planned. (Without them P = 1 x R = 2 takes 16.2 ms and P = 2 wins.)
        List<LayerProfile> l = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            l.add(layer("l" + i, 1e-3, 2e-3, 1 * MIB, 0, 16, 16));
        }
        PipelinePlanner.Builder free = PipelinePlanner.builder().profile(ModelProfile.of(l, 0)).executors(2)
                .deviceMemoryBytes(64L << 30).bandwidthBytesPerSecond(1e9).latencySeconds(0).batchSize(2)
                .allReduceBesideBackward(false);
        PipelinePlan chosen = free.build().plan();
        assertFalse(chosen.devices() == 1 && chosen.stagesPerDevice() > 1, chosen.explain());
        PipelinePlan asked = PipelinePlanner.builder().profile(ModelProfile.of(l, 0)).executors(2)
                .deviceMemoryBytes(64L << 30).bandwidthBytesPerSecond(1e9).latencySeconds(0).batchSize(2)
                .allReduceBesideBackward(false).stages(1).replicas(2).microBatches(1)
                .schedule(ScheduleKind.INTERLEAVED_1F1B).boundaries(0, 2, 4).build().plan();
        assertEquals(2, asked.stagesPerDevice());
        assertEquals(1, asked.devices());
    }

    /** The P = 2 x R = 2 case of the two tests above: 4 layers of 100 MiB gradients, 1 GB/s, latency 0, M = 1. */
    private static PipelinePlan twoByTwo(boolean sumsBesideBackward) {
        List<LayerProfile> l = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            l.add(layer("l" + i, 1e-3, 2e-3, 100 * MIB, 0, 16, 16));
        }
        return PipelinePlanner.builder().profile(ModelProfile.of(l, 0)).executors(4)
                .deviceMemoryBytes(64L << 30).bandwidthBytesPerSecond(1e9).latencySeconds(0).batchSize(64).stages(2)
                .replicas(2).microBatches(1).schedule(ScheduleKind.ONE_F_ONE_B)
                .allReduceBesideBackward(sumsBesideBackward).build().plan();
    }

    private static void assertSums(List<io.sparkmp.schedule.LayerAllReduce> sums, double pass, double... ready) {
        assertEquals(ready.length, sums.size(), sums.toString());
        for (int i = 0; i < ready.length; i++) {
            assertEquals(ready[i], sums.get(i).readySeconds(), 1e-12, sums.toString());
            assertEquals(pass, sums.get(i).seconds(), 1e-12, sums.toString());
        }
    }

    private static io.sparkmp.schedule.SimulationResult.TimedAction only(io.sparkmp.schedule.SimulationResult sim,
                                                                       int device, io.sparkmp.schedule.ActionType t) {
        List<io.sparkmp.schedule.SimulationResult.TimedAction> found = sim.timeline().get(device).stream()
                .filter(a -> a.action().type() == t).toList();
        assertEquals(1, found.size(), found.toString());
        return found.get(0);
    }

    @Test
    void manualBoundariesByIndexAndByNameAgree() {
        PipelinePlan byIndex = base(uniform(6, 1.0), 3, 1L << 30, 6).boundaries(0, 1, 4, 6).build().plan();
        PipelinePlan byName = base(uniform(6, 1.0), 3, 1L << 30, 6).boundaryNames("l1", "l4").build().plan();
        assertArrayEquals(new int[] {0, 1, 4, 6}, byIndex.boundaries());
        assertEquals(byIndex, byName);
        assertEquals(List.of("l1", "l2", "l3"), byName.stage(1).layerNames());
    }

    @Test
    void planSurvivesJavaSerialization() throws Exception {
        PipelinePlan plan = base(PlanFixtures.times(3, 1, 4, 1, 5, 9), 4, 1L << 30, 8).build().plan();
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        try (java.io.ObjectOutputStream out = new java.io.ObjectOutputStream(bytes)) {
            out.writeObject(plan);
        }
        try (java.io.ObjectInputStream in = new java.io.ObjectInputStream(
                new java.io.ByteArrayInputStream(bytes.toByteArray()))) {
            PipelinePlan back = (PipelinePlan) in.readObject();
            assertEquals(plan, back);
            assertEquals(plan.explain(), back.explain());
        }
    }

    @Test
    void planningIsDeterministic() {
        ModelProfile p = PlanFixtures.times(3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3);
        PipelinePlan a = base(p, 8, 1L << 30, 32).build().plan();
        PipelinePlan b = base(p, 8, 1L << 30, 32).build().plan();
        assertEquals(a, b);
        assertEquals(a.explain(), b.explain());
    }

    @Test
    void explainShowsEveryStageRowWithItsNumbers() {
        // 4 layers of 1 ms forward + 2 ms backward per example, 2 stages, 2 micro-batches of 2 examples.
        List<LayerProfile> l = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            l.add(layer("dense" + i, 1e-3, 2e-3, 1000 * 4, 256, 256, 256));
        }
        PipelinePlan plan = base(ModelProfile.of(l, 128), 2, 1L << 30, 4).stages(2).microBatches(2)
                .schedule(ScheduleKind.ONE_F_ONE_B).build().plan();
        String text = plan.explain();
        Pattern row = Pattern.compile("(?m)^\\s+(\\d+)\\s+(\\d+)\\s+(\\S+)\\s+(\\S+)\\s+(\\d+)\\s+.*?\\s(\\d+)\\s+(stash|recomp)\\s+"
                + "([\\d.]+)\\s+([\\d.]+)\\s+([\\d.]+)\\s+([\\d.]+)\\s+(\\d+(?:\\.\\d)? \\S+)\\s*$");
        Matcher m = row.matcher(text);
        List<String[]> rows = new ArrayList<>();
        while (m.find()) {
            String[] g = new String[m.groupCount()];
            for (int i = 0; i < g.length; i++) {
                g[i] = m.group(i + 1);
            }
            rows.add(g);
        }
        assertEquals(2, rows.size(), text);
        String[] r0 = rows.get(0);
        String[] r1 = rows.get(1);
        assertEquals("0..1", r0[2], text);
        assertEquals("dense0,dense1", r0[3], text);
        assertEquals("2000", r0[4], text); // 2 layers x 1000 parameters
        assertEquals("2", r0[5], text); // in flight on stage 0 of 2 with M = 2
        assertEquals("stash", r0[6], text); // the planner's default: no recomputation
        assertEquals("4.000", r0[7], text); // forward: 2 layers x 2 examples x 1 ms
        assertEquals("8.000", r0[8], text); // backward: 2 x 2 x 2 ms
        assertEquals("12.000", r0[10], text);
        assertEquals("512 B", r0[11], text); // 2 examples x 256 B sent forward per micro-batch
        assertEquals("2..3", r1[2], text);
        assertEquals("1", r1[5], text);
        assertEquals("0 B", r1[11], text);
        // Step: (12 + 12) + (2 - 1) * 12 = 36 ms.
        assertTrue(text.contains("predicted step 36.000 ms"), text);
        assertTrue(text.contains("schedule 1f1b, batch 4 = 1 replica x 2 micro-batches x 2 examples"), text);
    }

    @Test
    void singleLayerOverBudgetNamesTheLayerTheBytesAndTheOptions() {
        List<LayerProfile> l = new ArrayList<>();
        l.add(layer("in", 1, 1, 4 * MIB, 16, 16, 16));
        l.add(layer("giant", 1, 1, 100 * MIB, 16, 16, 16)); // 400 MiB with gradients and Adam
        l.add(layer("out", 1, 1, 4 * MIB, 16, 16, 16));
        InfeasiblePlanException e = assertThrows(InfeasiblePlanException.class,
                () -> base(ModelProfile.of(l, 16), 8, 256 * MIB, 8).build().plan());
        String msg = e.getMessage();
        assertTrue(msg.contains("layer 1 'giant'"), msg);
        assertTrue(msg.contains("400.0 MiB"), msg);
        assertTrue(msg.contains("256.0 MiB (268435456 bytes) per device"), msg);
        assertTrue(msg.contains("more memory per device") && msg.contains("smaller batch or micro-batch")
                && msg.contains("activation recomputation"), msg);
    }

    @Test
    void noFeasiblePlanForTheGivenDevicesSaysTheNumbers() {
        // 8 layers x 40 MiB (10 parameters + 10 gradient + 20 updater state); the least any split holds is the
        // parameters and updater state plus one layer's gradient (M = 1): 8 x 30 + 10 = 250 MiB, which 2 stages
        // of 100 MiB cannot hold.
        InfeasiblePlanException e = assertThrows(InfeasiblePlanException.class,
                () -> base(heavyParams(8), 2, 100 * MIB, 4).stages(2).build().plan());
        String msg = e.getMessage();
        assertTrue(msg.contains("into 2 stages") && msg.contains("100.0 MiB") && msg.contains("250.0 MiB"), msg);
        // And with free P: 320 MiB over 2 executors of 100 MiB is impossible too.
        InfeasiblePlanException e2 = assertThrows(InfeasiblePlanException.class,
                () -> base(heavyParams(8), 2, 100 * MIB, 4).build().plan());
        assertTrue(e2.getMessage().contains("2.50 device budgets"), e2.getMessage());
    }

    @Test
    void withoutTheFusedUpdateAOneMicroBatchStepHoldsEveryGradient() {
        // 8 layers x (10 MiB parameters, 10 gradient, 20 updater state), 4 stages of 2 layers, M = 1. Fused (the
        // default): 2 x 30 + one layer's 10 = 70 MiB per stage. Not fused (spark.mp.nonFinite=skip): both layers'
        // gradients plus the scratch, 2 x 40 + 10 = 90 MiB, which an 80 MiB budget cannot hold.
        PipelinePlan fused = base(heavyParams(8), 4, 80 * MIB, 4).stages(4).microBatches(1).build().plan();
        assertEquals(10 * MIB, fused.stages().get(0).memory().gradientBytes());
        InfeasiblePlanException e = assertThrows(InfeasiblePlanException.class,
                () -> base(heavyParams(8), 4, 80 * MIB, 4).stages(4).microBatches(1).fusedUpdate(false).build().plan());
        // the least any split holds without fusing: every parameter, gradient and updater state plus one layer
        assertTrue(e.getMessage().contains("330.0 MiB"), e.getMessage());
        PipelinePlan unfused = base(heavyParams(8), 4, 100 * MIB, 4).stages(4).microBatches(1).fusedUpdate(false)
                .build().plan();
        assertEquals(30 * MIB, unfused.stages().get(0).memory().gradientBytes());
    }

    @Test
    void badInputIsRejectedWithTheValueAndTheLimit() {
        ModelProfile p = uniform(4, 1.0);
        assertMessage(() -> base(p, 4, 0, 8), "deviceMemoryBytes must be positive, found 0");
        assertMessage(() -> base(p, 4, -5, 8), "deviceMemoryBytes must be positive, found -5");
        assertMessage(() -> base(p, 8, 1L << 30, 8).stages(8).build(),
                "stages x stagesPerDevice (8 x 1 = 8) must not exceed the model's layers (4)");
        assertMessage(() -> base(p, 2, 1L << 30, 8).stages(3).build(), "stages (3) exceed executors (2)");
        assertMessage(() -> base(p, 4, 1L << 30, 64).microBatches(3).build(), "microBatches (3) must divide batchSize (64)");
        assertMessage(() -> base(p, 4, 1L << 30, 64).replicas(2).microBatches(64).build(),
                "microBatches (64) must divide the batch per replica (32 = batchSize 64 / replicas 2)");
        assertMessage(() -> base(p, 4, 1L << 30, 8).boundaries(0, 2, 2, 4).build(), "strictly increasing");
        assertMessage(() -> base(p, 4, 1L << 30, 8).boundaries(0, 2, 3).build(), "end at the layer count (4)");
        assertMessage(() -> base(p, 4, 1L << 30, 8).boundaryNames("nope").build(), "no layer named 'nope'");
        assertMessage(() -> base(p, 4, 1L << 30, 8).boundaryNames("l0").build(), "is layer 0");
        assertMessage(() -> base(p, 4, 1L << 30, 8).bandwidthBytesPerSecond(0), "set");
        IllegalStateException twice = assertThrows(IllegalStateException.class,
                () -> base(p, 4, 1L << 30, 8).executors(3));
        assertEquals("executors was already set", twice.getMessage());
        IllegalStateException missing = assertThrows(IllegalStateException.class,
                () -> PipelinePlanner.builder().profile(p).executors(2).build());
        assertEquals("deviceMemoryBytes is required but was not set", missing.getMessage());
    }

    private static void assertMessage(org.junit.jupiter.api.function.Executable e, String part) {
        RuntimeException ex = assertThrows(RuntimeException.class, e);
        assertTrue(ex.getMessage().contains(part), "expected '" + part + "' in: " + ex.getMessage());
    }

    /** Planning time is measured by PlannerBenchmark; this only guards against a gross regression. */
    @Test
    void thousandLayersOnThousandDevicesPlansWithinAGenerousBound() {
        List<LayerProfile> l = new ArrayList<>();
        java.util.Random rnd = new java.util.Random(7);
        for (int i = 0; i < 1000; i++) {
            long params = 8_000_000L + rnd.nextInt(32_000_000);
            long out = (16 + rnd.nextInt(48)) * 1024L;
            l.add(LayerProfile.analytic("layer" + i, "Dense", params, 4, 2, out / 4, out / 4, 2.0 * params, 1e12));
        }
        ModelProfile p = ModelProfile.of(l, 16384);
        // CPU time of this thread: the build machine is shared, wall time would measure the neighbours.
        java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
        long c0 = mx.getCurrentThreadCpuTime();
        PipelinePlan plan = PipelinePlanner.builder().profile(p).executors(1024).deviceMemoryBytes(16L << 30)
                .bandwidthBytesPerSecond(10e9).batchSize(1024).build().plan();
        double seconds = (mx.getCurrentThreadCpuTime() - c0) / 1e9;
        assertTrue(seconds < 5, "planning took " + seconds + " s of CPU");
        assertEquals(1000, plan.layerCount());
        assertTrue(plan.executors() <= 1024);
        assertTrue(plan.stages().stream().allMatch(s -> s.memory().fits()));
    }
}
