package io.sparkmp.bench;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.function.IntPredicate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class WidthSearchTest {

    /** Runs the search against a threshold and returns the widths it probed, in order. */
    private static List<Integer> run(WidthSearch s, IntPredicate trains) {
        List<Integer> probed = new ArrayList<>();
        for (OptionalInt w = s.next(); w.isPresent(); w = s.next()) {
            probed.add(w.getAsInt());
            s.record(w.getAsInt(), trains.test(w.getAsInt()));
        }
        return probed;
    }

    @Test
    void doublesThenBisectsToOneStep() {
        WidthSearch s = new WidthSearch(1024, 128, 16384, 20);
        List<Integer> probed = run(s, w -> w <= 3328);
        assertEquals(List.of(1024, 2048, 4096, 3072, 3584, 3328, 3456), probed);
        assertEquals(3328, s.largestFit());
        assertEquals(OptionalInt.of(3456), s.smallestFail());
        assertTrue(s.converged());
    }

    @Test
    void halvesWhenTheStartFails() {
        WidthSearch s = new WidthSearch(4096, 128, 16384, 20);
        List<Integer> probed = run(s, w -> w <= 1500);
        assertEquals(List.of(4096, 2048, 1024, 1536, 1280, 1408), probed);
        assertEquals(1408, s.largestFit());
        assertTrue(s.converged());
    }

    @Test
    void stopsAtTheProbeBudgetWithoutConverging() {
        WidthSearch s = new WidthSearch(256, 128, 512, 2);
        assertEquals(List.of(256, 512), run(s, w -> true));
        assertEquals(512, s.largestFit());
        assertFalse(s.converged());
        WidthSearch budget = new WidthSearch(1024, 64, 16384, 3);
        assertEquals(3, run(budget, w -> w <= 5000).size());
        assertEquals(4096, budget.largestFit());
    }

    @Test
    void stopsWhenTheSmallestWidthFails() {
        WidthSearch s = new WidthSearch(512, 128, 4096, 20);
        assertEquals(List.of(512, 256, 128), run(s, w -> false));
        assertEquals(0, s.largestFit());
        assertEquals(OptionalInt.of(128), s.smallestFail());
    }

    @Test
    void widthsStayOnTheGridAndUnderTheMaximum() {
        WidthSearch s = new WidthSearch(1000, 128, 3000, 20);
        List<Integer> probed = run(s, w -> true);
        assertEquals(List.of(896, 1792, 2944), probed);
        probed.forEach(w -> assertEquals(0, w % 128));
    }

    @Test
    void aHintRechecksAnEarlierBracketWithTwoProbes() {
        WidthSearch s = new WidthSearch(3328, 3456, 128, 16384, 20);
        assertEquals(List.of(3328, 3456), run(s, w -> w <= 3328));
        assertTrue(s.converged());
        WidthSearch moved = new WidthSearch(3328, 3456, 128, 16384, 20);
        assertEquals(List.of(3328, 3456, 6912, 5120, 4224, 3840, 3584, 3712), run(moved, w -> w <= 3600));
        assertEquals(3584, moved.largestFit());
        assertThrows(IllegalArgumentException.class, () -> new WidthSearch(3328, 3328, 128, 16384, 20));
    }

    @Test
    void rejectsContradictionsAndBadSettings() {
        WidthSearch s = new WidthSearch(1024, 128, 16384, 20);
        s.record(2048, false);
        assertThrows(IllegalArgumentException.class, () -> s.record(2048, true));
        assertThrows(IllegalArgumentException.class, () -> new WidthSearch(1024, 0, 16384, 20));
        assertThrows(IllegalArgumentException.class, () -> new WidthSearch(1024, 128, 64, 20));
    }
}
