package io.sparkmp.spark;

import org.apache.spark.SparkContext;

/**
 * Driver-side checks that the cluster can run a barrier job of P tasks at once, made before anything is
 * launched: Spark would otherwise retry its own slot check 40 times, 15 s apart, before failing.
 */
final class ClusterCheck {
    private ClusterCheck() {
    }

    /**
     * Fails unless dynamic allocation is off and {@code tasks} task slots are free within {@code waitMs}
     * (executors that are still registering are waited for).
     *
     * @throws IllegalStateException naming the numbers (the GPUs found, when tasks ask for GPUs)
     */
    static void requireSlots(SparkContext sc, int tasks, long waitMs) {
        requireSlots(sc, tasks, 1, waitMs);
    }

    /**
     * As {@link #requireSlots(SparkContext, int, long)} for {@code stages x replicas} tasks.
     *
     * @throws IllegalStateException naming the stages, replicas and slots
     */
    static void requireSlots(SparkContext sc, int stages, int replicas, long waitMs) {
        int tasks = stages * replicas;
        if (sc.getConf().getBoolean("spark.dynamicAllocation.enabled", false)) {
            throw new IllegalStateException("spark.dynamicAllocation.enabled is true, but a barrier job needs all "
                    + tasks + " tasks at once on a fixed set of executors: set it to false");
        }
        long deadline = System.currentTimeMillis() + waitMs;
        int slots = slots(sc);
        while (slots < tasks && System.currentTimeMillis() < deadline) {
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            slots = slots(sc);
        }
        if (slots < tasks) {
            String gpus = GpuCheck.shortage(sc.getConf(), tasks, GpuCheck.executorGpus(sc));
            if (gpus != null) {
                throw new IllegalStateException(gpus + " (waited " + waitMs / 1000.0 + " s)");
            }
            int executors = Math.max(1, sc.statusTracker().getExecutorInfos().length - (sc.isLocal() ? 0 : 1));
            String need = replicas == 1 ? "stages (" + tasks + ")"
                    : "stages x replicas (" + stages + " x " + replicas + " = " + tasks + ")";
            throw new IllegalStateException(need + " need " + tasks + " concurrent task slots, but the "
                    + "cluster has " + slots + " (" + executors + " executor(s), spark.task.cpus = "
                    + sc.getConf().get("spark.task.cpus", "1") + ") after waiting " + waitMs / 1000.0
                    + " s: lower the stages" + (replicas == 1 ? "" : " or replicas") + " or add executors/cores");
        }
    }

    /** Task slots Spark would count for a barrier stage (the same figure its own check uses). */
    static int slots(SparkContext sc) {
        return sc.maxNumConcurrentTasks(sc.resourceProfileManager().defaultResourceProfile());
    }

    /**
     * The most task slots one host holds: all slots in local mode (every rank is a thread of the driver's JVM);
     * else the executors per host (the driver's own entry left out) times the slots per executor.
     */
    static int tasksPerHost(SparkContext sc) {
        int slots = Math.max(1, slots(sc));
        if (sc.isLocal()) {
            return slots;
        }
        org.apache.spark.storage.BlockManagerId driver = org.apache.spark.SparkEnv.get().blockManager().blockManagerId();
        java.util.Map<String, Integer> perHost = new java.util.HashMap<>();
        int executors = 0;
        for (org.apache.spark.SparkExecutorInfo e : sc.statusTracker().getExecutorInfos()) {
            if (e.host().equals(driver.host()) && e.port() == driver.port()) {
                continue;
            }
            perHost.merge(e.host(), 1, Integer::sum);
            executors++;
        }
        if (executors == 0) {
            return 1;
        }
        int most = perHost.values().stream().mapToInt(Integer::intValue).max().orElse(1);
        return Math.max(1, most * Math.max(1, slots / executors));
    }
}
