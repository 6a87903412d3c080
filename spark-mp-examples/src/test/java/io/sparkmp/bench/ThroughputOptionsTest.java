package io.sparkmp.bench;

import io.sparkmp.plan.RecomputeMode;
import io.sparkmp.schedule.ScheduleKind;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.dataset.DataSet;

import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ThroughputOptionsTest {

    @Test
    void fullDefaultsCoverEveryVariantOfTheIssue() {
        ThroughputOptions o = ThroughputOptions.parse();
        assertEquals("local-cluster[2,1,2048]", o.master());
        assertEquals(256, o.batch());
        assertEquals(List.of(4, 8, 16), o.micro());
        assertEquals(List.of(ScheduleKind.GPIPE, ScheduleKind.ONE_F_ONE_B), o.schedules());
        assertEquals(List.of(RecomputeMode.ALWAYS, RecomputeMode.NEVER), o.recompute());
        assertEquals(List.of(false, true), o.saveUpdater());
        assertEquals(Set.copyOf(ThroughputOptions.CONTENDERS), o.contenders());
    }

    @Test
    void quickChangesDefaultsButExplicitOptionsWin() {
        ThroughputOptions o = ThroughputOptions.parse("--micro", "4,16", "--quick", "--contenders", "fit");
        assertEquals(8, o.steps());
        assertEquals(List.of(4, 16), o.micro());
        assertEquals(List.of(ScheduleKind.ONE_F_ONE_B), o.schedules());
        assertEquals(Set.of("fit"), o.contenders());
    }

    @Test
    void badValuesNameTheOption() {
        assertEquals("`--steps` should be int, but was `x`",
                assertThrows(IllegalArgumentException.class, () -> ThroughputOptions.parse("--steps", "x")).getMessage());
        assertEquals("--micro 3 must be positive and divide --batch (256)",
                assertThrows(IllegalArgumentException.class, () -> ThroughputOptions.parse("--micro", "8,3")).getMessage());
        assertEquals("--steps (3) must exceed --warmup (3)",
                assertThrows(IllegalArgumentException.class, () -> ThroughputOptions.parse("--steps", "3")).getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ThroughputOptions.parse("--contenders", "torch"))
                .getMessage().contains("found `torch`"));
        assertEquals("--batch was given twice", assertThrows(IllegalArgumentException.class,
                () -> ThroughputOptions.parse("--batch", "64", "--batch", "128")).getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ThroughputOptions.parse("--recompute", "auto,sometimes"))
                .getMessage().contains("`sometimes`"));
    }

    @Test
    void teacherDataIsTheSameForTheSameSeedAndLabelsEveryExampleOnce() {
        DataSet a = new TeacherData(7).batch(3, 16);
        DataSet b = new TeacherData(7).batch(3, 16);
        assertArrayEquals(a.getFeatures().ravel().toFloatVector(), b.getFeatures().ravel().toFloatVector());
        assertArrayEquals(a.getLabels().ravel().toFloatVector(), b.getLabels().ravel().toFloatVector());
        assertNotEquals(a.getFeatures(), new TeacherData(7).batch(4, 16).getFeatures());
        assertArrayEquals(new long[] {16, TeacherData.FEATURES}, a.getFeatures().shape());
        assertArrayEquals(new double[16], a.getLabels().sum(1).subi(1).toDoubleVector(), 0);
    }

    @Test
    void evenSplitOfTheBenchmarkModelBalancesParameters() {
        assertArrayEquals(new int[] {0, 2, 5}, ThroughputBenchmark.evenSplit(ThroughputBenchmark.model(42)));
    }
}
