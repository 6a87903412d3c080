package io.sparkmp.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

/** The barrier calls' timeout, and the driver naming the ranks that did not arrive. */
class BarrierSyncTest {

    @Test
    void aGatherThatEveryRankReachesReturnsItsAnswer() {
        String[] out = BarrierSync.timed(() -> new String[] {"a", "b"}, 0, "start-up rendezvous", 1, 5_000, () -> { });
        assertArrayEquals(new String[] {"a", "b"}, out);
    }

    @Test
    void aGatherThatARankNeverReachesTimesOutNamingTheCallAndIsReleasedAfterwards() throws Exception {
        CountDownLatch released = new CountDownLatch(1);
        CountDownLatch gatherEnded = new CountDownLatch(1);
        long t0 = System.nanoTime();
        BarrierSync.BarrierTimeoutException e = assertThrows(BarrierSync.BarrierTimeoutException.class,
                () -> BarrierSync.timed(() -> {
                    try {
                        released.await(); // Spark's gather: returns once the task is marked interrupted
                        throw new IllegalStateException("killed");
                    } catch (InterruptedException ie) {
                        throw new IllegalStateException(ie);
                    } finally {
                        gatherEnded.countDown();
                    }
                }, 3, "checkpoint after step 6", 0, 300, released::countDown));
        long waitedMs = (System.nanoTime() - t0) / 1_000_000;
        assertTrue(waitedMs >= 300 && waitedMs < 2_000, "waited " + waitedMs + " ms for a 300 ms timeout");
        assertEquals(3, e.call);
        assertTrue(e.getMessage().startsWith("barrier timeout: rank 0 waited "), e.getMessage());
        assertTrue(e.getMessage().endsWith(" ms at barrier call 3 (allGather, checkpoint after step 6) and not every "
                + "rank arrived within spark.mp.barrier.timeout (300 ms)"), e.getMessage());
        assertTrue(gatherEnded.await(BarrierSync.RELEASE_DELAY_MS + 5_000, TimeUnit.MILLISECONDS),
                "the helper thread still waiting in the gather was not released");
    }

    @Test
    void aFailureInsideTheGatherIsRethrownAsItIs() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BarrierSync.timed(() -> {
            throw new IllegalArgumentException("coordinator said no");
        }, 0, "x", 0, 5_000, () -> { }));
        assertEquals("coordinator said no", e.getMessage());
    }

    @Test
    void theDriverNamesTheRanksThatDidNotArriveFromTheirReportedArrivals() {
        List<StepReport> lines = new ArrayList<>();
        ProgressListener l = new ProgressListener(1, 3, 2, 1, lines::add);
        l.offer(RankStep.arrival(0, 0, 0));
        l.offer(RankStep.arrival(1, 0, 0));
        l.offer(RankStep.arrival(2, 0, 0));
        l.offer(RankStep.arrival(0, 0, 1));
        l.offer(RankStep.arrival(2, 0, 1));
        l.offer(RankStep.arrival(1, 1, 1)); // another attempt's call 1 does not count
        String why = new BarrierSync.BarrierTimeoutException(1, "checkpoint after step 6", 0, 5012, 5000).getMessage();
        assertEquals("; rank(s) [1] did not arrive at barrier call 1 (checkpoint after step 6); arrived: [0, 2]",
                l.missingRanks(0, "java.lang.IllegalStateException: " + why));
        assertEquals("", l.missingRanks(0, "java.lang.IllegalStateException: injected fault"));
        assertTrue(lines.isEmpty(), "arrivals are not steps");
    }

    @Test
    void arrivalRecordsAreNotSteps() {
        RankStep a = RankStep.arrival(2, 1, 7);
        assertTrue(a.isArrival());
        assertEquals(7, a.arrivalCall());
        assertTrue(!new RankStep(0, 0, 0, 0, 1, 8, 1, 1).isArrival());
    }
}
