package io.sparkmp.bench;

import org.apache.spark.SparkConf;
import org.apache.spark.SparkContext;

import java.util.List;

/**
 * What the benchmarks need to run on a {@code local-cluster[N,cores,MB]} master: executors are separate JVMs
 * launched from {@code $SPARK_HOME/jars} (the runtime classpath, which the bench profiles copy there).
 */
final class LocalCluster {

    private LocalCluster() {
    }

    /** Whether {@code master} starts executor JVMs of its own. */
    static boolean isLocalCluster(String master) {
        return master.startsWith("local-cluster");
    }

    /**
     * Settings for {@code local-cluster[N,cores,MB]}: the app jar ({@code -Dsparkmp.appJars}), one OpenMP thread
     * per executor, the driver's JavaCPP cache and temp folders, and the context waits for all executors before
     * the first job (else a profiling task and the first stage may land on one).
     *
     * @throws IllegalArgumentException when {@code -Dsparkmp.appJars} or {@code SPARK_HOME} is missing
     */
    static void configure(SparkConf sc) {
        String jars = System.getProperty("sparkmp.appJars");
        if (jars == null || jars.isBlank()) {
            throw new IllegalArgumentException("a local-cluster master needs -Dsparkmp.appJars=<app jars>, found none");
        }
        if (System.getenv("SPARK_HOME") == null) {
            throw new IllegalArgumentException("a local-cluster master needs SPARK_HOME (a folder with jars/), found none");
        }
        StringBuilder opts = new StringBuilder();
        for (String prop : List.of("org.bytedeco.javacpp.cachedir", "java.io.tmpdir", "hadoop.tmp.dir")) {
            if (System.getProperty(prop) != null) {
                opts.append(" -D").append(prop).append('=').append(System.getProperty(prop));
            }
        }
        sc.set("spark.jars", jars).set("spark.driver.host", "127.0.0.1").set("spark.driver.bindAddress", "127.0.0.1")
                .set("spark.executorEnv.OMP_NUM_THREADS", "1").set("spark.executorEnv.SPARK_LOCAL_IP", "127.0.0.1")
                .set("spark.executor.extraJavaOptions", opts.toString().trim())
                .set("spark.scheduler.minRegisteredResourcesRatio", "1.0")
                .set("spark.scheduler.maxRegisteredResourcesWaitingTime", "120s");
    }

    /**
     * Waits (at most 240 s) until the N executor JVMs of {@code local-cluster[N,..]} have registered: on a loaded
     * machine their start takes longer than the trainer's slot check waits.
     *
     * @throws IllegalStateException when they do not all register in time
     */
    static void awaitExecutors(SparkContext sc, String master) {
        int n = executors(master);
        long deadline = System.nanoTime() + 240_000_000_000L;
        int registered = 0;
        while (System.nanoTime() < deadline) {
            registered = sc.statusTracker().getExecutorInfos().length - 1; // minus the driver
            if (registered >= n) {
                return;
            }
            try {
                Thread.sleep(500);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for executors", e);
            }
        }
        throw new IllegalStateException(registered + " of the " + n + " executors of " + master
                + " registered within 240 s");
    }

    /** N of {@code local-cluster[N,cores,MB]}. */
    static int executors(String master) {
        return Integer.parseInt(master.substring(master.indexOf('[') + 1, master.indexOf(',')).trim());
    }

    /** MB of {@code local-cluster[N,cores,MB]}: the most an executor may ask for. */
    static int workerMegabytes(String master) {
        return Integer.parseInt(master.substring(master.lastIndexOf(',') + 1, master.indexOf(']')).trim());
    }
}
