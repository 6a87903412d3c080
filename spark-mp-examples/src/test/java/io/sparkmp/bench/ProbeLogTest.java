package io.sparkmp.bench;

import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

class ProbeLogTest {

    @Test
    void protocolLinesRoundTripAndOtherLinesAreSkipped() {
        java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream();
        java.io.PrintStream old = System.out;
        System.setOut(new java.io.PrintStream(buf, true));
        try {
            ProbeLog.say("plan", "stage", 1, "predicted", 123L, "note", "two words");
            ProbeLog.say("ok");
        } finally {
            System.setOut(old);
        }
        List<String> lines = new java.util.ArrayList<>(List.of(buf.toString().split("\n")));
        lines.add(1, "12:00:01 INFO some Spark log line CAPACITY x=1");
        List<ProbeLog.Line> parsed = ProbeLog.parse(lines);
        assertEquals(2, parsed.size());
        assertEquals("plan", parsed.get(0).kind());
        assertEquals(123L, parsed.get(0).getLong("predicted"));
        assertEquals("two_words", parsed.get(0).get("note"));
        assertEquals("ok", parsed.get(1).kind());
    }

    @Test
    void namesEachFailureKindWithTheProcessesThatShowIt() {
        Map<String, String> t = new LinkedHashMap<>();
        t.put("driver", "org.apache.spark.SparkException: Job aborted due to stage failure: ExecutorLostFailure "
                + "(executor 2 exited caused by one of the running tasks)");
        t.put("executor 1", "ok");
        t.put("executor 2", "java.lang.OutOfMemoryError: Physical memory usage is too high: physicalBytes (1600M) "
                + "> maxPhysicalBytes (1500M)\n\tat org.bytedeco.javacpp.Pointer.deallocator(Pointer.java:700)");
        assertEquals("off-heap cap (executor 2); executor lost (driver)", ProbeLog.failure(t));
    }

    @Test
    void heapOomAndPlannerMessages() {
        assertEquals("OOM heap (JVM)", ProbeLog.failure(Map.of("JVM",
                "CAPACITY failed error=java.lang.OutOfMemoryError\njava.lang.OutOfMemoryError: Java heap space")));
        assertEquals("planner infeasible: stage 0 needs 2.1 GiB, budget 988 MiB (driver)", ProbeLog.failure(Map.of(
                "driver", "CAPACITY failed error=io.sparkmp.plan.InfeasiblePlanException\n"
                        + "io.sparkmp.plan.InfeasiblePlanException: stage 0 needs 2.1 GiB, budget 988 MiB\n\tat x")));
        assertEquals("OOM (JVM)", ProbeLog.failure(Map.of("JVM", "java.lang.OutOfMemoryError: Direct buffer memory")));
        assertNull(ProbeLog.failure(Map.of("JVM", "all fine")));
    }

    @Test
    void lastExceptionSkipsStackFrames() {
        assertEquals("Caused by: java.io.IOException: disk full", ProbeLog.lastException(
                "java.lang.RuntimeException: wrap\n\tat a.b(C.java:1)\nCaused by: java.io.IOException: disk full\n"
                        + "\tat d.e(F.java:2)\n"));
        assertNull(ProbeLog.lastException("nothing here"));
    }
}
