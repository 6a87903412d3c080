package io.sparkmp.spark;

import org.apache.spark.SparkConf;
import org.apache.spark.SparkContext;
import org.apache.spark.resource.ResourceInformation;
import org.apache.spark.status.api.v1.ExecutorSummary;
import scala.collection.JavaConverters;

import java.util.Map;
import java.util.TreeMap;

/**
 * The GPU side of "can this cluster run the job", with messages that name the resource and what was found. Spark
 * schedules a task that asks for a GPU ({@code spark.task.resource.gpu.amount}) only on an executor that
 * reported one, so a cluster whose executors found none does not fail in Spark: it has no slots, and the barrier
 * job would wait. The driver says why before launching ({@link #shortage}); a task given no GPU although one was
 * asked for fails at once ({@link #taskGpu}) instead of training on the CPU.
 */
final class GpuCheck {
    static final String TASK_AMOUNT = "spark.task.resource.gpu.amount";
    static final String EXECUTOR_AMOUNT = "spark.executor.resource.gpu.amount";
    static final String DISCOVERY_SCRIPT = "spark.executor.resource.gpu.discoveryScript";

    private GpuCheck() {
    }

    /** GPUs per task asked for; 0 when unset. */
    static double taskAmount(SparkConf conf) {
        String v = conf.get(TASK_AMOUNT, "0").trim();
        try {
            return Double.parseDouble(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("`" + TASK_AMOUNT + "` should be a number, but was `" + v + "`");
        }
    }

    /**
     * The GPU address Spark gave the task, or null when none was asked for and none given.
     *
     * @param amount {@code spark.task.resource.gpu.amount} (0 when unset)
     * @param resources the task's resources ({@code TaskContext.resources()})
     * @throws IllegalStateException when a GPU was asked for and the task holds none, naming what it holds
     */
    static String taskGpu(double amount, Map<String, ResourceInformation> resources) {
        ResourceInformation gpus = resources.get("gpu");
        if (gpus != null && gpus.addresses().length > 0) {
            return gpus.addresses()[0];
        }
        if (amount > 0) {
            throw new IllegalStateException(TASK_AMOUNT + " is " + amount + ", but Spark gave this task no GPU ("
                    + "its resources: " + describe(resources) + "): the executor's discovery found none; check "
                    + EXECUTOR_AMOUNT + " and " + DISCOVERY_SCRIPT + " (it must print {\"name\": \"gpu\", "
                    + "\"addresses\": [...]} on every worker, see conf/gpu-discovery.sh)");
        }
        return null;
    }

    /**
     * Why {@code tasks} GPU tasks do not fit the executors, or null when GPUs are not the reason (none asked for,
     * or enough found).
     *
     * @param gpusByExecutor executor id to the GPU addresses it reported
     */
    static String shortage(SparkConf conf, int tasks, Map<String, Integer> gpusByExecutor) {
        double amount = taskAmount(conf);
        if (amount <= 0) {
            return null;
        }
        long fit = 0;
        int found = 0;
        for (int n : gpusByExecutor.values()) {
            found += n;
            fit += (long) Math.floor(n / amount + 1e-9);
        }
        if (fit >= tasks) {
            return null;
        }
        String script = conf.get(DISCOVERY_SCRIPT, "");
        String head = "stages (" + tasks + ") need " + tasks + " tasks with " + TASK_AMOUNT + " = " + amount
                + " each, but the " + gpusByExecutor.size() + " executor(s) report " + found + " GPU(s) "
                + new TreeMap<>(gpusByExecutor) + ", room for " + fit + " such task(s)";
        if (found == 0) {
            return head + ": no executor found a GPU. Check " + EXECUTOR_AMOUNT + " (" + conf.get(EXECUTOR_AMOUNT,
                    "unset") + ") and that " + DISCOVERY_SCRIPT + " (" + (script.isEmpty() ? "unset" : script)
                    + ") prints {\"name\": \"gpu\", \"addresses\": [\"0\", ...]} on every worker (a script that prints"
                    + " nothing or fails stops the executor: see its log); conf/gpu-discovery.sh does this from"
                    + " nvidia-smi";
        }
        return head + ": lower the stages or add GPU executors";
    }

    /** GPU addresses each live executor reported (the driver excluded unless it is the only one, local mode). */
    static Map<String, Integer> executorGpus(SparkContext sc) {
        Map<String, Integer> out = new TreeMap<>();
        scala.collection.Seq<ExecutorSummary> all = sc.statusStore().executorList(true);
        for (ExecutorSummary e : JavaConverters.seqAsJavaList(all)) {
            if (!sc.isLocal() && "driver".equals(e.id())) {
                continue;
            }
            ResourceInformation gpus = JavaConverters.mapAsJavaMap(e.resources()).get("gpu");
            out.put(e.id(), gpus == null ? 0 : gpus.addresses().length);
        }
        return out;
    }

    private static String describe(Map<String, ResourceInformation> resources) {
        if (resources.isEmpty()) {
            return "none";
        }
        Map<String, String> m = new TreeMap<>();
        resources.forEach((k, v) -> m.put(k, String.join(",", v.addresses())));
        return m.toString();
    }
}
