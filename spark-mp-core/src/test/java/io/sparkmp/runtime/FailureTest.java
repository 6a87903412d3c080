package io.sparkmp.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import io.sparkmp.model.TestModels;
import io.sparkmp.schedule.Action;
import io.sparkmp.schedule.ActionType;
import io.sparkmp.schedule.Schedule;
import io.sparkmp.schedule.ScheduleKind;
import io.sparkmp.transport.FrameType;
import io.sparkmp.transport.TensorKey;
import io.sparkmp.transport.TransportException;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

/** Failures surface fast, with the spot named; nothing hangs. */
class FailureTest {

    private static final MultiLayerConfiguration MLP = TestModels.mlp(DataType.DOUBLE, TestModels.Opt.ADAM, 0);

    @Test
    void failingRankStopsThePipelineAndShowsTheMarkedGrid() {
        PipelineSpec spec = PipelineSpec.of(MLP, new int[] {0, 2, 4}, ScheduleKind.ONE_F_ONE_B, 2, 1, 4, 16, 1);
        DataSet good = TestModels.data("mlp", DataType.DOUBLE, 1, 16, 1).get(0);
        // Labels with 5 classes: the output layer (3 classes) fails in its first backward, on rank 1.
        DataSet bad = new DataSet(good.getFeatures(), Nd4j.zeros(DataType.DOUBLE, 16, 5));
        long t0 = System.nanoTime();
        StageExecutionException e = assertThrows(StageExecutionException.class,
                () -> new InProcessPipeline(spec, null, Duration.ofSeconds(60)).fit(List.of(good, bad), 1));
        long seconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - t0);
        assertTrue(seconds < 20, "the other rank should stop at once, not after the 60 s receive timeout: " + seconds + " s");
        System.out.println(e.getMessage());
        assertEquals(1, e.rank());
        assertEquals(1, e.step());
        assertEquals(Action.of(1, ActionType.BACKWARD, 0), e.action());
        assertTrue(e.getMessage().startsWith("stage 1 on rank 1 failed at step 1, micro-batch 0, action 1B0: "), e.getMessage());
        assertTrue(e.getMessage().contains("[1B0]"), "grid with the failing action marked:\n" + e.getMessage());
        // Rank 0's failure (its channel was closed) is attached, not thrown instead of the real one.
        assertEquals(1, e.getSuppressed().length);
        assertTrue(e.getSuppressed()[0].getMessage().contains("closed"), e.getSuppressed()[0].getMessage());
    }

    @Test
    void unsupportedActionTypeFailsLoudly() {
        PipelineSpec spec = PipelineSpec.of(MLP, new int[] {0, 4}, ScheduleKind.GPIPE, 1, 1, 1, 16, 1);
        Schedule s = new Schedule(ScheduleKind.GPIPE, 1, 1, 1, List.of(List.of(Action.of(0, ActionType.LOAD, 0),
                Action.of(0, ActionType.FORWARD, 0),
                Action.of(0, ActionType.BACKWARD_WEIGHT, 0), Action.of(0, ActionType.STEP))));
        InProcessChannel ch = InProcessChannel.connect(1, Duration.ofSeconds(5)).get(0);
        StageWorker w = new StageWorker(spec, s, 0, ch, null);
        StageExecutionException e = assertThrows(StageExecutionException.class,
                () -> w.runStep(0, TestModels.data("mlp", DataType.DOUBLE, 1, 16, 1).get(0)));
        assertTrue(e.getMessage().startsWith("stage 0 on rank 0 failed at step 0, micro-batch 0, action 0W0: action type "
                + "BACKWARD_WEIGHT is not supported by the stage worker"), e.getMessage());
        assertTrue(e.getMessage().contains("[0W0]"), e.getMessage());
    }

    @Test
    void missingReceiveIsReportedAtTheAction() {
        PipelineSpec spec = PipelineSpec.of(MLP, new int[] {0, 2, 4}, ScheduleKind.GPIPE, 2, 1, 1, 16, 1);
        // Rank 1 forgets its RECV_F.
        Schedule s = new Schedule(ScheduleKind.GPIPE, 2, 1, 1, List.of(
                List.of(Action.of(0, ActionType.FORWARD, 0), Action.of(0, ActionType.SEND_F, 0), Action.of(0, ActionType.RECV_B, 0),
                        Action.of(0, ActionType.BACKWARD, 0), Action.of(0, ActionType.STEP)),
                List.of(Action.of(1, ActionType.FORWARD, 0), Action.of(1, ActionType.BACKWARD, 0), Action.of(1, ActionType.SEND_B, 0),
                        Action.of(1, ActionType.STEP))));
        List<InProcessChannel> ch = InProcessChannel.connect(2, Duration.ofSeconds(5));
        StageWorker w1 = new StageWorker(spec, s, 1, ch.get(1), null);
        ch.get(0).send(1, new TensorKey(FrameType.CONTROL, 0, 0, 0, 1), Nd4j.createFromArray(16.0, 0, 0));
        // Rank 0's L1/L2 sum, which rank 1 adds its own to at the start of the step.
        ch.get(0).send(1, new TensorKey(FrameType.CONTROL, 0, 1, 0, 1), Nd4j.createFromArray(0.0));
        StageExecutionException e = assertThrows(StageExecutionException.class, () -> w1.runStep(0, null));
        assertTrue(e.getMessage().startsWith("stage 1 on rank 1 failed at step 0, micro-batch 0, action 1F0: no input for "
                + "stage 1 micro-batch 0: expected an activation received by RECV_F before this action"), e.getMessage());
    }

    @Test
    void receiveTimesOutNamingPeerAndKey() {
        List<InProcessChannel> ch = InProcessChannel.connect(2, Duration.ofMillis(200));
        TensorKey key = new TensorKey(FrameType.ACTIVATION, 3, 2, 0, 1);
        TransportException e = assertThrows(TransportException.class, () -> ch.get(1).receive(0, key));
        assertEquals("rank 1 timed out after 200 ms waiting for ACTIVATION[step 3, micro-batch 2, stage 0->1] from rank 0",
                e.getMessage());
    }

    @Test
    void closeWakesAWaitingReceive() throws Exception {
        List<InProcessChannel> ch = InProcessChannel.connect(2, Duration.ofSeconds(60));
        TensorKey key = new TensorKey(FrameType.GRADIENT, 0, 0, 1, 0);
        CompletableFuture<Throwable> waiter = CompletableFuture.supplyAsync(() -> {
            try {
                ch.get(0).receive(1, key);
                return null;
            } catch (Throwable t) {
                return t;
            }
        });
        Thread.sleep(200);
        ch.get(1).close();
        Throwable t = waiter.get(5, TimeUnit.SECONDS);
        assertTrue(t instanceof TransportException, String.valueOf(t));
        assertEquals("rank 0 waited for GRADIENT[step 0, micro-batch 0, stage 1->0] from rank 1, but rank 1 closed its channel",
                t.getMessage());
    }

    @Test
    void framesArrivingEarlyAreHeldUntilAskedFor() throws ExecutionException, InterruptedException {
        List<InProcessChannel> ch = InProcessChannel.connect(2, Duration.ofSeconds(5));
        TensorKey k0 = new TensorKey(FrameType.ACTIVATION, 0, 0, 0, 1);
        TensorKey k1 = new TensorKey(FrameType.ACTIVATION, 0, 1, 0, 1);
        ch.get(0).send(1, k1, Nd4j.scalar(1.0));
        ch.get(0).send(1, k0, Nd4j.scalar(0.0));
        assertEquals(0.0, ch.get(1).receive(0, k0).getDouble(0));
        assertEquals(1.0, ch.get(1).receive(0, k1).getDouble(0));
        TransportException dup = assertThrows(TransportException.class, () -> {
            ch.get(0).send(1, k0, Nd4j.scalar(0.0));
            ch.get(0).send(1, k0, Nd4j.scalar(0.0));
        });
        assertEquals("rank 0 sent ACTIVATION[step 0, micro-batch 0, stage 0->1] to rank 1 twice", dup.getMessage());
    }
}
