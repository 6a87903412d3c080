package io.sparkmp.examples;

import io.sparkmp.spark.testing.SparkStandaloneCluster;
import scala.Tuple2;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A forked {@code SparkSubmit} (client mode) of a main class of the examples jar on a standalone test cluster, as a
 * user runs it: Spark's own classpath, the cluster's driver settings as {@code --conf}, the jar, then the job's flags.
 */
record SparkSubmitRun(boolean ended, int exitCode, String output, double seconds) {

    static SparkSubmitRun run(SparkStandaloneCluster cluster, Class<?> mainClass, List<String> jobArgs, Path log,
                              int timeoutSeconds) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(List.of(System.getProperty("sparkmp.jvmFlags").trim().split("\\s+")));
        cmd.addAll(List.of("-Xmx768m", "-cp", cluster.sparkClasspath(), "org.apache.spark.deploy.SparkSubmit",
                "--master", cluster.masterUrl(), "--deploy-mode", "client", "--class", mainClass.getName()));
        for (Tuple2<String, String> kv : cluster.driverConf().getAll()) {
            if (!kv._1().equals("spark.master") && !kv._1().equals("spark.app.name")) {
                cmd.addAll(List.of("--conf", kv._1() + "=" + kv._2()));
            }
        }
        cmd.add(System.getProperty("sparkmp.appJars"));
        cmd.addAll(jobArgs);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().putAll(cluster.sparkEnvironment());
        long t0 = System.nanoTime();
        Process p = pb.start();
        boolean ended = p.waitFor(timeoutSeconds, TimeUnit.SECONDS);
        if (!ended) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
        return new SparkSubmitRun(ended, ended ? p.exitValue() : -1, Files.readString(log, StandardCharsets.UTF_8),
                (System.nanoTime() - t0) / 1e9);
    }
}
