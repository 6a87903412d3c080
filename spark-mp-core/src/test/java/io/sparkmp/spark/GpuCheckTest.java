package io.sparkmp.spark;

import org.apache.spark.SparkConf;
import org.apache.spark.resource.ResourceInformation;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** GPU requests against what Spark gave the task, and against what the executors found. */
class GpuCheckTest {
    private static final ResourceInformation GPU_2 = new ResourceInformation("gpu", new String[] {"2"});

    @Test
    void aTaskUsesTheGpuSparkGaveIt() {
        assertEquals("2", GpuCheck.taskGpu(1, Map.of("gpu", GPU_2)));
        assertEquals("2", GpuCheck.taskGpu(0, Map.of("gpu", GPU_2)), "given without asking: still used");
    }

    @Test
    void aCpuTaskHasNoGpu() {
        assertNull(GpuCheck.taskGpu(0, Map.of()));
    }

    @Test
    void aTaskAskingForAGpuAndGivenNoneFailsNamingTheResourceAndWhatItHolds() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> GpuCheck.taskGpu(1,
                Map.of("fpga", new ResourceInformation("fpga", new String[] {"a"}))));
        assertTrue(e.getMessage().startsWith("spark.task.resource.gpu.amount is 1.0, but Spark gave this task no GPU"
                + " (its resources: {fpga=a})"), e.getMessage());
        assertTrue(e.getMessage().contains("spark.executor.resource.gpu.discoveryScript"), e.getMessage());
        IllegalStateException empty = assertThrows(IllegalStateException.class, () -> GpuCheck.taskGpu(0.5,
                Map.of("gpu", new ResourceInformation("gpu", new String[0]))));
        assertTrue(empty.getMessage().contains("is 0.5") && empty.getMessage().contains("{gpu=}"), empty.getMessage());
    }

    @Test
    void noExecutorWithAGpuNamesTheAmountAndTheDiscoveryScript() {
        SparkConf conf = new SparkConf(false).set("spark.task.resource.gpu.amount", "1")
                .set("spark.executor.resource.gpu.amount", "1")
                .set("spark.executor.resource.gpu.discoveryScript", "/opt/spark-mp/gpu-discovery.sh");
        String m = GpuCheck.shortage(conf, 2, Map.of());
        assertTrue(m.startsWith("stages (2) need 2 tasks with spark.task.resource.gpu.amount = 1.0 each, but the 0 "
                + "executor(s) report 0 GPU(s) {}, room for 0 such task(s): no executor found a GPU."), m);
        assertTrue(m.contains("spark.executor.resource.gpu.amount (1)"), m);
        assertTrue(m.contains("spark.executor.resource.gpu.discoveryScript (/opt/spark-mp/gpu-discovery.sh)"), m);
        assertTrue(m.contains("prints nothing"), m);
        String unset = GpuCheck.shortage(new SparkConf(false).set("spark.task.resource.gpu.amount", "1"), 1,
                Map.of("0", 0, "1", 0));
        assertTrue(unset.contains("2 executor(s) report 0 GPU(s) {0=0, 1=0}") && unset.contains("(unset)"), unset);
    }

    @Test
    void tooFewGpusNamesWhatWasFound() {
        SparkConf conf = new SparkConf(false).set("spark.task.resource.gpu.amount", "1");
        Map<String, Integer> found = new TreeMap<>(Map.of("0", 1, "1", 1, "2", 0));
        String m = GpuCheck.shortage(conf, 3, found);
        assertEquals("stages (3) need 3 tasks with spark.task.resource.gpu.amount = 1.0 each, but the 3 executor(s)"
                + " report 2 GPU(s) {0=1, 1=1, 2=0}, room for 2 such task(s): lower the stages or add GPU executors", m);
    }

    @Test
    void enoughGpusOrNoneAskedForIsNoGpuProblem() {
        SparkConf gpu = new SparkConf(false).set("spark.task.resource.gpu.amount", "1");
        assertNull(GpuCheck.shortage(gpu, 2, Map.of("0", 1, "1", 1)));
        assertNull(GpuCheck.shortage(new SparkConf(false), 4, Map.of()), "no GPU asked for");
        SparkConf half = new SparkConf(false).set("spark.task.resource.gpu.amount", "0.5");
        assertNull(GpuCheck.shortage(half, 4, Map.of("0", 2)), "two tasks share each GPU");
        assertTrue(GpuCheck.shortage(half, 5, Map.of("0", 2)).contains("room for 4 such task(s)"));
    }

    @Test
    void aBadAmountIsNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> GpuCheck.taskAmount(new SparkConf(false).set("spark.task.resource.gpu.amount", "one")));
        assertEquals("`spark.task.resource.gpu.amount` should be a number, but was `one`", e.getMessage());
    }
}
