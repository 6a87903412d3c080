package io.sparkmp.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

/** The benchmark's reference for every ratio: the mean of fit at the start and at the end of a run. */
class ThroughputReferenceTest {

    private static ThroughputRow row(String name, double samplesPerSecond) {
        return new ThroughputRow(name, false, samplesPerSecond, 0.1, Double.NaN, Double.NaN, null, 2.3, "", null);
    }

    @Test
    void theMeanOfBothFitsAndNothingElse() {
        List<ThroughputRow> rows = List.of(row("fit (one executor JVM)", 1200), row("spark-mp P=2 1f1b M=8", 2000),
                row(ThroughputBenchmark.FIT_AGAIN, 1600));
        assertEquals(1400, ThroughputBenchmark.fitReference(rows), 1e-9);
        assertEquals(1200, ThroughputBenchmark.fitReference(List.of(row("fit (one executor JVM)", 1200))), 1e-9);
        assertEquals(1600, ThroughputBenchmark.fitReference(List.of(row("fit (one executor JVM)", 1200),
                ThroughputRow.failed("fit (one executor JVM)", false, new RuntimeException("x")),
                row(ThroughputBenchmark.FIT_AGAIN, 2000))), 1e-9, "a failed fit does not count");
        assertTrue(Double.isNaN(ThroughputBenchmark.fitReference(List.of(row("spark-mp", 1)))));
    }
}
