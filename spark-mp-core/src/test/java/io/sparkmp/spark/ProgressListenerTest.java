package io.sparkmp.spark;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

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

    private static List<Long> steps(List<StepReport> lines) {
        return lines.stream().map(StepReport::step).toList();
    }
}
