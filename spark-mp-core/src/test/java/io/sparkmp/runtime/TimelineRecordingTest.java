package io.sparkmp.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import io.sparkmp.model.TestModels;
import io.sparkmp.model.TestModels.Opt;
import io.sparkmp.schedule.Action;
import io.sparkmp.schedule.ActionType;
import io.sparkmp.schedule.Schedule;
import io.sparkmp.schedule.ScheduleKind;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

/**
 * The stage worker records one event per executed action of every sampled step (and nothing of the others),
 * plus its waits, the loading of micro-batches on rank 0 and the loss reduction on the last stage's rank; a
 * forward is recorded before its backward; recording does not change what is trained.
 */
class TimelineRecordingTest {

    private static final Set<String> ACTION_KINDS = Set.of("F", "B", "SEND_F", "RECV_F", "SEND_B", "RECV_B", "STEP",
            "LOAD", "SEND_L", "RECV_L", "LOSS");

    private static InProcessPipeline.Result train(PipelineSpec spec, TimelineSampling sampling, int steps) {
        List<DataSet> ds = TestModels.data("mlp", DataType.DOUBLE, steps, 16, 7);
        return new InProcessPipeline(spec, null, Duration.ofSeconds(60), sampling).fit(ds, 1);
    }

    @ParameterizedTest(name = "{0} P={1} v={2} M={3}")
    @CsvSource({"1f1b, 2, 1, 4, 0 2 4", "gpipe, 3, 1, 2, 0 1 2 4", "interleaved, 2, 2, 2, 0 1 2 3 4"})
    void sampledStepsHaveOneEventPerActionInScheduleOrder(String kind, int p, int v, int m, String cuts) {
        MultiLayerConfiguration conf = TestModels.mlp(DataType.DOUBLE, Opt.ADAM, 0);
        int[] b = java.util.Arrays.stream(cuts.split(" ")).mapToInt(Integer::parseInt).toArray();
        PipelineSpec spec = PipelineSpec.of(conf, b, ScheduleKind.parse(kind), p, v, m, 16, TestModels.SEED);
        Schedule schedule = spec.buildSchedule();

        InProcessPipeline.Result r = train(spec, new TimelineSampling(1, 1, 3, 10_000), 4);

        assertEquals(p, r.timelines().size());
        for (int rank = 0; rank < p; rank++) {
            RankTimeline t = r.timelines().get(rank);
            assertEquals(rank, t.rank());
            assertEquals(0, t.dropped());
            Set<Long> steps = new TreeSet<>();
            t.events().forEach(e -> steps.add(e.step()));
            assertEquals(Set.of(1L, 3L), steps, "warm-up step 0 and unsampled step 2 are not recorded");
            for (long step : steps) {
                List<ActionEvent> events = t.events().stream().filter(e -> e.step() == step).toList();
                List<String> actions = new ArrayList<>();
                for (ActionEvent e : events) {
                    assertEquals(rank, e.rank());
                    if (ACTION_KINDS.contains(e.kind())) {
                        actions.add(e.stage() + e.kind() + (e.microBatch() >= 0 ? e.microBatch() : ""));
                    }
                }
                List<String> expected = schedule.actions(rank).stream().map(Action::toString).toList();
                assertEquals(expected, actions, "rank " + rank + " step " + step);
                assertForwardBeforeBackward(events);
                assertEquals(rank == 0 ? m : 0, count(events, ActionEvent.LOAD), "LOAD per micro-batch on rank 0");
                assertEquals(rank == spec.rankOf(spec.numStages() - 1) ? 1 : 0, count(events, ActionEvent.LOSS));
                long receives = schedule.actions(rank).stream().filter(a -> a.type() == ActionType.RECV_F
                        || a.type() == ActionType.RECV_B || a.type() == ActionType.RECV_L).count();
                assertTrue(count(events, ActionEvent.WAIT) >= receives, "a WAIT per receive at least");
                assertWaitsInsideTheirReceive(events);
            }
        }
    }

    @Test
    void recordingTrainsTheSameParametersAndCapsEvents() {
        MultiLayerConfiguration conf = TestModels.mlp(DataType.DOUBLE, Opt.ADAM, 0);
        PipelineSpec spec = PipelineSpec.of(conf, new int[] {0, 2, 4}, ScheduleKind.ONE_F_ONE_B, 2, 1, 4, 16,
                TestModels.SEED);
        Map<Integer, INDArray> plain = train(spec, null, 3).parameters();
        InProcessPipeline.Result capped = train(spec, new TimelineSampling(0, 3, 0, 10), 3);

        assertEquals(0.0, TestModels.maxRelativeError(capped.parameters(), plain));
        assertTrue(train(spec, null, 1).timelines().isEmpty());
        for (RankTimeline t : capped.timelines()) {
            assertEquals(10, t.size());
            assertTrue(t.dropped() > 0, t.toString());
        }
    }

    @Test
    void aRankTimelineSerializesCompactlyAndBackToTheSameEvents() throws IOException {
        MultiLayerConfiguration conf = TestModels.mlp(DataType.DOUBLE, Opt.ADAM, 0);
        PipelineSpec spec = PipelineSpec.of(conf, new int[] {0, 2, 4}, ScheduleKind.ONE_F_ONE_B, 2, 1, 8, 16,
                TestModels.SEED);
        RankTimeline t = train(spec, new TimelineSampling(0, 4, 0, 10_000), 4).timelines().get(1);

        RankTimeline back = roundTrip(t);

        assertEquals(t.events(), back.events());
        int compact = serializedSize(t);
        int records = serializedSize(new ArrayList<>(t.events()));
        System.out.printf("RankTimeline: %d events, %.1f bytes/event serialized (a list of ActionEvent: %.1f)%n",
                t.size(), compact / (double) t.size(), records / (double) t.size());
        assertTrue(compact < records, compact + " vs " + records);
    }

    private static RankTimeline roundTrip(RankTimeline t) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(t);
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            return (RankTimeline) in.readObject();
        } catch (ClassNotFoundException e) {
            throw new AssertionError(e);
        }
    }

    private static int serializedSize(Object o) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(o);
        }
        return bytes.size();
    }

    /**
     * With replicas, the wait at an ALLREDUCE for the per-layer sums running beside the backward is recorded as a
     * WAIT inside the action (so the timeline and the measured bubble count it idle) and is in the step's waitNanos.
     */
    @ParameterizedTest(name = "P={0} R={1}")
    @CsvSource({"1, 2, 0 4", "2, 2, 0 2 4"})
    void theWaitAtAnAllReduceIsIdleNotBusy(int p, int r, String cuts) {
        MultiLayerConfiguration conf = TestModels.mlp(DataType.DOUBLE, Opt.ADAM, 0);
        int[] b = java.util.Arrays.stream(cuts.split(" ")).mapToInt(Integer::parseInt).toArray();
        PipelineSpec spec = PipelineSpec.of(conf, b, ScheduleKind.ONE_F_ONE_B, p, 1, 2, 16, TestModels.SEED)
                .withReplicas(r);
        InProcessPipeline.Result result = train(spec, new TimelineSampling(0, 3, 0, 10_000), 3);
        assertEquals(p * r, result.timelines().size());
        for (RankTimeline t : result.timelines()) {
            for (long step = 0; step < 3; step++) {
                long s = step;
                List<ActionEvent> events = t.events().stream().filter(e -> e.step() == s).toList();
                List<ActionEvent> allReduces = events.stream().filter(e -> e.kind().equals("ALLREDUCE")).toList();
                assertEquals(1, allReduces.size(), "one ALLREDUCE per stage and step on rank " + t.rank());
                ActionEvent ar = allReduces.get(0);
                List<ActionEvent> inside = events.stream().filter(e -> e.kind().equals(ActionEvent.WAIT)
                        && e.stage() == ar.stage() && e.microBatch() == -1 && e.startNanos() >= ar.startNanos()
                        && e.endNanos() <= ar.endNanos()).toList();
                assertEquals(1, inside.size(), "rank " + t.rank() + " step " + step + ": " + events);
            }
        }
        for (StepMetrics m : result.metrics()) {
            assertTrue(m.waitNanos() > 0 && m.waitNanos() <= m.wallNanos(), m.toString());
        }
    }

    private static long count(List<ActionEvent> events, String kind) {
        return events.stream().filter(e -> e.kind().equals(kind)).count();
    }

    private static void assertForwardBeforeBackward(List<ActionEvent> events) {
        Map<String, ActionEvent> forwards = new HashMap<>();
        for (ActionEvent e : events) {
            String key = e.stage() + "/" + e.microBatch();
            if (e.kind().equals("F")) {
                forwards.put(key, e);
            } else if (e.kind().equals("B")) {
                ActionEvent f = forwards.get(key);
                assertTrue(f != null && f.endNanos() <= e.startNanos(), "B " + key + " before its F: " + e + " / " + f);
            }
        }
    }

    private static void assertWaitsInsideTheirReceive(List<ActionEvent> events) {
        for (ActionEvent recv : events) {
            if (!recv.kind().startsWith("RECV")) {
                continue;
            }
            boolean nested = events.stream().anyMatch(w -> w.kind().equals(ActionEvent.WAIT)
                    && w.stage() == recv.stage() && w.microBatch() == recv.microBatch()
                    && w.startNanos() >= recv.startNanos() && w.endNanos() <= recv.endNanos());
            assertTrue(nested, "no WAIT inside " + recv);
        }
    }
}
