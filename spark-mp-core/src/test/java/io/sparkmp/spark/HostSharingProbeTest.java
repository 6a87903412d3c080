package io.sparkmp.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparkmp.plan.LayerProfile;
import io.sparkmp.plan.ModelProfile;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The probe's summary of its tasks' lines and its split of the model (the barrier job itself: PipelineTrainingIT). */
class HostSharingProbeTest {

    @Test
    void theHostWithTheMostTasksGivesTheMedianRatio() {
        HostSharingProbe p = HostSharingProbe.summarize(List.of("a|0.010|0.013", "b|0.010|0.030", "a|0.020|0.030",
                "a|0.010|0.011"), "[0, 2, 4]");
        assertEquals(3, p.tasksPerHost());
        assertEquals(1.3, p.slowdown(), 1e-12, "median of 1.3, 1.5 and 1.1 on host a; host b's one task is alone");
        assertTrue(p.detail().startsWith("split [0, 2, 4]: a 10.000/13.000 ms"), p.detail());
    }

    @Test
    void fasterTogetherIsNoSlowdownAndOneTaskPerHostIsNone() {
        assertEquals(1.0, HostSharingProbe.summarize(List.of("a|0.010|0.009", "a|0.010|0.008"), "").slowdown());
        HostSharingProbe apart = HostSharingProbe.summarize(List.of("a|0.010|0.020", "b|0.010|0.020"), "");
        assertEquals(1, apart.tasksPerHost());
        assertEquals(1.0, apart.slowdown());
    }

    @Test
    void theModelIsCutIntoPartsOfAboutEqualTime() {
        // per example: 1, 1, 1, 1, 4 -> halves [0, 4) and [4, 5); thirds cut once 1/3 and 2/3 are reached
        ModelProfile m = profile(layer("a", 0, 1), layer("b", 0, 1), layer("c", 0, 1), layer("d", 0, 1),
                layer("e", 0, 4));
        assertArrayEquals(new int[] {0, 4, 5}, HostSharingProbe.split(m, 1, 2));
        assertArrayEquals(new int[] {0, 3, 4, 5}, HostSharingProbe.split(m, 1, 3));
        assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5}, HostSharingProbe.split(m, 1, 8), "at most one part per layer");
        assertArrayEquals(new int[] {0, 5}, HostSharingProbe.split(m, 1, 1));
        ModelProfile front = profile(layer("a", 10, 0), layer("b", 0, 1), layer("c", 0, 1));
        assertArrayEquals(new int[] {0, 1, 3}, HostSharingProbe.split(front, 1, 2));
        assertArrayEquals(new int[] {0, 1, 2, 3}, HostSharingProbe.split(front, 1, 3), "every part keeps a layer");
    }

    private static ModelProfile profile(LayerProfile... l) {
        return new ModelProfile(List.of(l), 16, "FLOAT", "Adam", ModelProfile.TimeSource.MEASURED, 8, "key");
    }

    private static LayerProfile layer(String name, double fixed, double perExample) {
        return new LayerProfile(name, "Dense", 10, 40, 40, 80, 16, 16, 16, 0, fixed, perExample, fixed, perExample);
    }
}
