package io.sparkmp.spark;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which live progress lines the driver reports, from rank records arriving in any order. */
class ProgressListenerTest {

    private static RankStep rec(int rank, int attempt, long step) {
        return new RankStep(rank, attempt, 0, step, rank == 1 ? 10 + step : Double.NaN, 8, 1_000_000, 500_000);
    }

    @Test
    void reportsAStepOnceEveryRankHasItAndThenEveryNth() {
        List<StepReport> lines = new ArrayList<>();
        ProgressListener l = new ProgressListener(1, 2, 1, 5, lines::add);
        l.offer(rec(0, 0, 0));
        assertEquals(0, lines.size(), "rank 1 has not finished step 0");
        l.offer(rec(1, 0, 0));
        assertEquals(List.of(0L), steps(lines));
        for (long s = 1; s < 12; s++) {
            l.offer(rec(1, 0, s));
            l.offer(rec(0, 0, s));
        }
        assertEquals(List.of(0L, 4L, 9L), steps(lines));
        assertEquals(19.0, lines.get(2).loss(), 0.0, "the loss comes from the loss rank");
        assertEquals(0.5, lines.get(2).bubbleFraction(), 1e-12);
    }

    @Test
    void aRetriedAttemptStartsOverAndLateRecordsOfTheOldOneAreIgnored() {
        List<StepReport> lines = new ArrayList<>();
        ProgressListener l = new ProgressListener(1, 2, 1, 1, lines::add);
        l.offer(rec(0, 0, 0));
        l.offer(rec(1, 0, 0));
        l.offer(rec(0, 1, 0));
        l.offer(rec(1, 0, 1)); // late record of the failed attempt
        l.offer(rec(1, 1, 0));
        assertEquals(List.of(0L, 0L), steps(lines));
    }

    @Test
    void theCauseOfAFailedAttemptIsNotTheNeighbourThatLostItsLink() {
        ProgressListener l = new ProgressListener(1, 2, 1, 1, null);
        String closed = "stage 2 on rank 0 failed: cannot receive ACTIVATION from rank 1: the peer closed its channel";
        assertTrue(l.recordFailure(0, "rank 0: " + closed, closed));
        assertTrue(l.recordFailure(0, "rank 1: injected fault", "injected fault"), "the cause replaces the neighbour's");
        assertFalse(l.recordFailure(0, "rank 2: " + closed, closed), "a later neighbour does not replace the cause");
        assertFalse(l.recordFailure(0, "rank 3: other", "other"), "one failure per attempt");
        assertTrue(l.recordFailure(1, "rank 0: " + closed, closed), "the next attempt has its own");
        assertEquals(List.of("rank 1: injected fault", "rank 0: " + closed), l.failures());
    }

    @Test
    void theLineSaysStepIOfNAndTheTimeLeftAtTheMeasuredRate() {
        java.util.concurrent.atomic.AtomicLong now = new java.util.concurrent.atomic.AtomicLong();
        List<StepReport> lines = new ArrayList<>();
        ProgressListener l = new ProgressListener(1, 2, 1, 5, lines::add, "", 4, false, now::get);
        for (long s = 0; s < 10; s++) {
            now.set(s * 2_000_000_000L); // the driver sees step s finish 2 s after step s - 1
            for (int rank = 0; rank < 2; rank++) {
                l.offer(new RankStep(rank, 0, 0, s, rank == 1 ? 1.5 : Double.NaN, 8, 1_000_000, 500_000, -1, -1,
                        false, 100));
            }
            if (s == 0) {
                // the first report has no rate yet
                assertTrue(l.lastLine().endsWith(" | step 1 of 100 (1%)"), l.lastLine());
            }
            if (s == 4) {
                // 4 steps in 8 s since the first report: 95 steps left at 2 s
                assertTrue(l.lastLine().endsWith(" | step 5 of 100 (5%), about 3 min 10 s left"), l.lastLine());
            }
        }
        assertEquals(List.of(0L, 4L, 9L), steps(lines));
        assertTrue(l.lastLine().startsWith(lines.get(2).toString()), l.lastLine());
        assertTrue(l.lastLine().endsWith(" | step 10 of 100 (10%), about 3 min 00 s left"), l.lastLine());
    }

    @Test
    void withoutAnEndStepTheLineIsTheReportAlone() {
        List<StepReport> lines = new ArrayList<>();
        ProgressListener l = new ProgressListener(1, 2, 1, 1, lines::add);
        l.offer(rec(0, 0, 0));
        l.offer(rec(1, 0, 0));
        assertEquals(lines.get(0).toString(), l.lastLine());
        assertEquals("45 s", ProgressListener.duration(44.6));
        assertEquals("2 h 05 min", ProgressListener.duration(7500));
    }

    private static List<Long> steps(List<StepReport> lines) {
        return lines.stream().map(StepReport::step).toList();
    }
}
