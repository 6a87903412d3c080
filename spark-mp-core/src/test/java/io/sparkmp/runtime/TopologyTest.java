package io.sparkmp.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** {@link Topology}: rank = replica * P + device, both ways, and the rings of each device. */
class TopologyTest {

    @Test
    void ranksMapToDeviceAndReplicaBothWays() {
        Topology t = new Topology(3, 2);
        assertEquals(6, t.ranks());
        for (int rank = 0; rank < 6; rank++) {
            assertEquals(rank, t.rank(t.device(rank), t.replica(rank)));
        }
        assertEquals(4, t.rank(1, 1));
        assertEquals(1, t.device(4));
        assertEquals(1, t.replica(4));
        assertArrayEquals(new int[] {2, 5}, t.ringOf(2));
        assertTrue(t.readsData(0));
        assertTrue(t.readsData(3));
        assertFalse(t.readsData(4));
        assertEquals("rank 4 (device 1 of replica 1)", t.describe(4));
        assertEquals("rank 2", new Topology(3, 1).describe(2));
    }

    @Test
    void oneReplicaIsThePipeline() {
        Topology t = new Topology(4, 1);
        for (int rank = 0; rank < 4; rank++) {
            assertEquals(rank, t.device(rank));
            assertEquals(0, t.replica(rank));
        }
        assertArrayEquals(new int[] {3}, t.ringOf(3));
    }

    @Test
    void badValuesNameThemselves() {
        assertEquals("replicas must be positive, found 0",
                assertThrows(IllegalArgumentException.class, () -> new Topology(2, 0)).getMessage());
        assertEquals("rank 6 is out of range [0, 6)",
                assertThrows(IllegalArgumentException.class, () -> new Topology(3, 2).device(6)).getMessage());
        assertEquals("replica 2 is out of range [0, 2)",
                assertThrows(IllegalArgumentException.class, () -> new Topology(3, 2).rank(0, 2)).getMessage());
    }
}
