package io.sparkmp.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.stream.LongStream;

import org.junit.jupiter.api.Test;

class ActionRecorderTest {

    @Test
    void samplesTheFirstStepsAndEveryKth() {
        ActionRecorder r = new ActionRecorder(0, 3, 10, 100);
        List<Long> sampled = LongStream.range(0, 35).filter(r::sampled).boxed().toList();
        assertEquals(List.of(0L, 1L, 2L, 10L, 20L, 30L), sampled);
    }

    @Test
    void everyZeroSamplesOnlyTheFirstSteps() {
        ActionRecorder r = new ActionRecorder(0, 2, 0, 100);
        assertEquals(List.of(0L, 1L), LongStream.range(0, 50).filter(r::sampled).boxed().toList());
        ActionRecorder none = new ActionRecorder(0, 0, 0, 100);
        assertEquals(0, LongStream.range(0, 50).filter(none::sampled).count());
    }

    @Test
    void unsampledStepsAreNotRecorded() {
        ActionRecorder r = new ActionRecorder(1, 1, 0, 100);
        r.record(0, 0, "F", 0, 100, 200);
        r.record(1, 0, "F", 0, 300, 400);
        List<ActionEvent> events = r.drain();
        assertEquals(1, events.size());
        assertEquals(0, events.get(0).step());
        assertEquals(1, events.get(0).rank());
    }

    @Test
    void capDropsTheRestAndCountsThem() {
        ActionRecorder r = new ActionRecorder(0, 5, 0, 3);
        for (int i = 0; i < 5; i++) {
            r.record(0, 0, "F", i, i * 10L, i * 10L + 5);
        }
        assertEquals(2, r.dropped());
        List<ActionEvent> events = r.drain();
        assertEquals(List.of(0, 1, 2), events.stream().map(ActionEvent::microBatch).toList());
        assertTrue(r.drain().isEmpty(), "a drain empties the recorder");
        r.record(1, 0, "B", 0, 0, 1);
        assertEquals(1, r.drain().size(), "room again after a drain");
        assertEquals(2, r.dropped(), "dropped counts over the recorder's life");
    }

    @Test
    void zeroCapacityKeepsNothing() {
        ActionRecorder r = new ActionRecorder(0, 1, 0, 0);
        r.record(0, 0, "F", 0, 0, 1);
        assertTrue(r.drain().isEmpty());
        assertEquals(1, r.dropped());
    }

    @Test
    void conversionKeepsOrderAndDurationsAndLandsNearTheWallClock() {
        ActionRecorder r = new ActionRecorder(0, 1, 0, 10);
        long t0 = System.nanoTime();
        long t1 = t0 + 1_500_000;
        long t2 = t1 + 2_000_000;
        r.record(0, 1, "RECV_F", 2, t0, t1);
        r.record(0, 1, "F", 2, t1, t2);
        List<ActionEvent> e = r.drain();
        assertEquals(1_500_000, e.get(0).durationNanos());
        assertEquals(2_000_000, e.get(1).durationNanos());
        assertEquals(e.get(0).endNanos(), e.get(1).startNanos());
        assertTrue(e.get(0).startNanos() < e.get(1).startNanos());
        long wallNanos = System.currentTimeMillis() * 1_000_000L;
        // The offset is taken once per JVM from currentTimeMillis: within a minute of the wall clock.
        assertTrue(Math.abs(e.get(0).startNanos() - wallNanos) < 60_000_000_000L,
                "epoch nanos " + e.get(0).startNanos() + " vs wall " + wallNanos);
        long a = ActionRecorder.toEpochNanos(t0);
        long b = ActionRecorder.toEpochNanos(t0 + 1);
        assertEquals(1, b - a, "the mapping is a fixed offset");
    }

    @Test
    void keepsKindStageAndMicroBatch() {
        ActionRecorder r = new ActionRecorder(3, 1, 0, 10);
        r.record(0, -1, ActionEvent.LOAD, 4, 0, 1);
        r.record(0, 2, "STEP", ActionEvent.NO_MICRO_BATCH, 1, 2);
        List<ActionEvent> e = r.drain();
        assertEquals(new ActionEvent(3, 0, -1, "LOAD", 4, ActionRecorder.toEpochNanos(0), ActionRecorder.toEpochNanos(1)),
                e.get(0));
        assertEquals("STEP", e.get(1).kind());
        assertEquals(-1, e.get(1).microBatch());
    }

    @Test
    void rejectsBadArguments() {
        assertThrows(IllegalArgumentException.class, () -> new ActionRecorder(-1, 1, 1, 1));
        assertThrows(IllegalArgumentException.class, () -> new ActionRecorder(0, -1, 1, 1));
        assertThrows(IllegalArgumentException.class, () -> new ActionRecorder(0, 1, -1, 1));
        assertThrows(IllegalArgumentException.class, () -> new ActionRecorder(0, 1, 1, -1));
        ActionRecorder r = new ActionRecorder(0, 1, 0, 10);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> r.record(0, 0, "F", 0, 10, 5));
        assertTrue(e.getMessage().contains("endNano (5) is before startNano (10)"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> r.record(0, 0, null, 0, 0, 1));
        assertFalse(r.sampled(-1));
        assertThrows(IllegalArgumentException.class, () -> new ActionEvent(0, 0, 0, "F", 0, 10, 5));
    }
}
