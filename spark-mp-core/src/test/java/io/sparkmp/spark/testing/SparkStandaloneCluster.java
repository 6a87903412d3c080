package io.sparkmp.spark.testing;

import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.HttpURLConnection;
import java.net.ServerSocket;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * JUnit 5 extension: a real Spark standalone cluster on 127.0.0.1 — one Master and N Workers, each a
 * separate JVM started from the module's own Maven classpath (a SPARK_HOME holding only {@code jars/},
 * made by {@code maven-dependency-plugin} in {@code pre-integration-test}) — and a driver session bound
 * to it. Every Worker has one core, so every barrier task runs in its own executor JVM.
 *
 * <p>Register it as a static field with {@code @RegisterExtension}; one cluster serves the whole test
 * class. It is meant for failsafe ITs ({@code *IT.java}), which run after {@code package} so the module
 * jar exists. Every process it starts is stopped by PID in {@code afterAll} (and by a shutdown hook if
 * the test JVM dies first).
 *
 * <p>Paths come from system properties that the module's failsafe configuration sets:
 * {@code sparkmp.sparkHome}, {@code sparkmp.clusterDir}, {@code sparkmp.appJars} (comma-separated) and
 * {@code sparkmp.javacppCache}.
 */
public final class SparkStandaloneCluster implements BeforeAllCallback, AfterAllCallback {

    private static final Pattern ALIVE_WORKERS = Pattern.compile("\"aliveworkers\"\\s*:\\s*(\\d+)");
    /** Generous: on a loaded 2-core machine the master and four workers were measured to need over 120 s. */
    private static final long START_TIMEOUT_MS = 300_000;

    private final int workers;
    private final int workerMemoryMb;
    private final Map<String, String> extraConf = new LinkedHashMap<>();
    private final Map<String, String> workerConf = new LinkedHashMap<>();
    private boolean withSession = true;

    private final List<Process> processes = new ArrayList<>();
    private Thread shutdownHook;
    private Path sparkHome;
    private Path clusterDir;
    private String masterUrl;
    private int masterWebPort;
    private SparkSession session;

    private SparkStandaloneCluster(int workers, int workerMemoryMb) {
        if (workers < 1) {
            throw new IllegalArgumentException("workers must be >= 1, found " + workers);
        }
        this.workers = workers;
        this.workerMemoryMb = workerMemoryMb;
    }

    /** A cluster of {@code workers} one-core Workers, each allowing a 768 MiB executor. */
    public static SparkStandaloneCluster withWorkers(int workers) {
        return new SparkStandaloneCluster(workers, 768);
    }

    /**
     * No driver session in the test JVM: the executors stay free for applications the test submits itself
     * (e.g. a forked spark-submit). {@link #session()} is then null.
     */
    public SparkStandaloneCluster withoutSession() {
        withSession = false;
        return this;
    }

    /**
     * Adds a Spark setting of every Worker JVM (before the cluster starts), e.g. its resources
     * ({@code spark.worker.resource.gpu.amount}, {@code .discoveryScript}).
     */
    public SparkStandaloneCluster workerConf(String key, String value) {
        workerConf.put(key, value);
        return this;
    }

    /** Adds a Spark setting for the driver session (before the cluster starts). */
    public SparkStandaloneCluster conf(String key, String value) {
        extraConf.put(key, value);
        return this;
    }

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
        sparkHome = Paths.get(requiredProperty("sparkmp.sparkHome"));
        if (!Files.isDirectory(sparkHome.resolve("jars"))) {
            throw new IllegalStateException(sparkHome.resolve("jars") + " does not exist: run the IT through "
                    + "'mvn verify' (pre-integration-test copies the classpath there)");
        }
        clusterDir = Paths.get(requiredProperty("sparkmp.clusterDir"))
                .resolve(context.getRequiredTestClass().getSimpleName() + "-" + System.currentTimeMillis());
        Files.createDirectories(clusterDir.resolve("logs"));
        Files.createDirectories(eventLogDir());
        // Made here: Workers racing to mkdirs it would lose ("No subfolder can be created") and fail executors.
        Files.createDirectories(clusterDir.resolve("local"));
        shutdownHook = new Thread(this::stopProcesses, "spark-cluster-stop");
        Runtime.getRuntime().addShutdownHook(shutdownHook);
        long t0 = System.nanoTime();
        try {
            int masterPort = freePort();
            masterWebPort = freePort();
            masterUrl = "spark://127.0.0.1:" + masterPort;
            start("master", List.of("org.apache.spark.deploy.master.Master"), List.of("--host", "127.0.0.1",
                    "--port", Integer.toString(masterPort), "--webui-port", Integer.toString(masterWebPort)));
            for (int i = 0; i < workers; i++) {
                Path work = Files.createDirectories(clusterDir.resolve("work-" + i));
                List<String> worker = new ArrayList<>();
                workerConf.forEach((k, v) -> worker.add("-D" + k + "=" + v));
                worker.add("org.apache.spark.deploy.worker.Worker");
                start("worker-" + i, worker, List.of(masterUrl,
                        "--host", "127.0.0.1", "--port", "0", "--webui-port", "0", "--cores", "1",
                        "--memory", workerMemoryMb + "m", "--work-dir", work.toString()));
            }
            awaitAliveWorkers();
            if (withSession) {
                session = SparkSession.builder().config(driverConf()).getOrCreate();
                awaitExecutors(session, workers);
            }
            System.out.printf("SparkStandaloneCluster: master + %d workers%s up in %.1f s (%s)%n", workers,
                    withSession ? " + " + workers + " executors" : "", (System.nanoTime() - t0) / 1e9, clusterDir);
        } catch (Exception | Error e) {
            afterAll(context);
            throw e;
        }
    }

    @Override
    public void afterAll(ExtensionContext context) {
        try {
            if (session != null) {
                session.stop();
            }
        } finally {
            session = null;
            stopProcesses();
            if (shutdownHook != null) {
                try {
                    Runtime.getRuntime().removeShutdownHook(shutdownHook);
                } catch (IllegalStateException shuttingDown) {
                    // the hook runs anyway
                }
            }
        }
    }

    /** The driver session bound to the cluster. */
    public SparkSession session() {
        return session;
    }

    /** The driver context bound to the cluster. */
    public JavaSparkContext sparkContext() {
        return JavaSparkContext.fromSparkContext(session.sparkContext());
    }

    /** {@code spark://127.0.0.1:<port>}. */
    public String masterUrl() {
        return masterUrl;
    }

    /** The jars-only SPARK_HOME the cluster runs from. */
    public Path sparkHome() {
        return sparkHome;
    }

    /** Where the cluster's logs, work dirs and event log live (one folder per test class run). */
    public Path clusterDir() {
        return clusterDir;
    }

    /** Spark event log folder of this cluster's applications. */
    public Path eventLogDir() {
        return clusterDir.resolve("events");
    }

    /** Number of Workers (one one-core executor each). */
    public int workers() {
        return workers;
    }

    /** The settings a driver on this cluster uses (also handy for a forked spark-submit). */
    public SparkConf driverConf() {
        String cache = System.getProperty("sparkmp.javacppCache", clusterDir.resolve("javacpp").toString());
        String tmp = clusterDir.resolve("tmp").toString();
        new File(tmp).mkdirs();
        SparkConf conf = new SparkConf()
                .setMaster(masterUrl)
                .setAppName("spark-mp-it")
                .set("spark.driver.host", "127.0.0.1")
                .set("spark.driver.bindAddress", "127.0.0.1")
                .set("spark.jars", requiredProperty("sparkmp.appJars"))
                .set("spark.cores.max", Integer.toString(workers))
                .set("spark.executor.cores", "1")
                .set("spark.executor.memory", "512m")
                .set("spark.scheduler.minRegisteredResourcesRatio", "1.0")
                .set("spark.scheduler.maxRegisteredResourcesWaitingTime", "60s")
                .set("spark.eventLog.enabled", "true")
                .set("spark.eventLog.dir", eventLogDir().toUri().toString())
                .set("spark.ui.enabled", "false")
                .set("spark.executorEnv.OMP_NUM_THREADS", "1")
                .set("spark.executor.heartbeatInterval", "1s")
                .set("spark.executor.extraJavaOptions", "-Dorg.bytedeco.javacpp.cachedir=" + cache
                        + " -Djava.io.tmpdir=" + tmp + " -Dhadoop.tmp.dir=" + tmp + "/hadoop")
                .set("spark.sql.shuffle.partitions", "4")
                .set("spark.serializer", "org.apache.spark.serializer.KryoSerializer");
        kryoRegistrator().ifPresent(r -> conf.set("spark.kryo.registrator", r));
        extraConf.forEach(conf::set);
        return conf;
    }

    /** PIDs of the executor JVMs now running under the Workers, by executor id. */
    public Map<String, Long> executorPids() {
        Map<String, Long> pids = new LinkedHashMap<>();
        for (Process p : List.copyOf(processes)) {
            p.descendants().forEach(h -> {
                String[] args = h.info().arguments().orElse(new String[0]);
                for (int i = 0; i + 1 < args.length; i++) {
                    if (args[i].equals("--executor-id")) {
                        pids.put(args[i + 1], h.pid());
                    }
                }
            });
        }
        return pids;
    }

    /** Environment for any JVM that runs Spark from this SPARK_HOME (Workers, forked spark-submit). */
    public Map<String, String> sparkEnvironment() {
        Map<String, String> env = new LinkedHashMap<>();
        env.put("SPARK_HOME", sparkHome.toString());
        env.put("SPARK_SCALA_VERSION", "2.12");
        env.put("SPARK_LOCAL_IP", "127.0.0.1");
        env.put("SPARK_LOCAL_DIRS", clusterDir.resolve("local").toString());
        env.put("OMP_NUM_THREADS", "1");
        return env;
    }

    /** The classpath of the jars-only SPARK_HOME, for forked Spark JVMs. */
    public String sparkClasspath() {
        return sparkHome.resolve("jars") + File.separator + "*";
    }

    private static Optional<String> kryoRegistrator() {
        String name = "io.sparkmp.spark.SparkMpKryoRegistrator";
        try {
            Class.forName(name, false, SparkStandaloneCluster.class.getClassLoader());
            return Optional.of(name);
        } catch (ClassNotFoundException absent) {
            return Optional.empty();
        }
    }

    /** Starts a cluster JVM: {@code flagsAndMain} (JVM flags, then the main class), then its arguments. */
    private void start(String name, List<String> flagsAndMain, List<String> args) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-Xmx256m");
        cmd.add("-cp");
        cmd.add(sparkClasspath());
        cmd.addAll(flagsAndMain);
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(clusterDir.resolve("logs").resolve(name + ".log").toFile());
        pb.environment().putAll(sparkEnvironment());
        synchronized (processes) {
            processes.add(pb.start());
        }
    }

    private void awaitAliveWorkers() throws InterruptedException {
        long deadline = System.currentTimeMillis() + START_TIMEOUT_MS;
        int alive = -1;
        while (System.currentTimeMillis() < deadline) {
            for (Process p : processes) {
                if (!p.isAlive()) {
                    throw new IllegalStateException("a cluster JVM exited with " + p.exitValue()
                            + " during start-up; see logs in " + clusterDir.resolve("logs"));
                }
            }
            alive = readAliveWorkers();
            if (alive >= workers) {
                return;
            }
            Thread.sleep(250);
        }
        throw new IllegalStateException("only " + alive + " of " + workers + " workers registered with "
                + masterUrl + " within " + START_TIMEOUT_MS / 1000 + " s; see " + clusterDir.resolve("logs"));
    }

    private int readAliveWorkers() {
        try {
            HttpURLConnection c = (HttpURLConnection) new URL("http://127.0.0.1:" + masterWebPort + "/json/").openConnection();
            c.setConnectTimeout(1000);
            c.setReadTimeout(2000);
            try (InputStream in = c.getInputStream()) {
                Matcher m = ALIVE_WORKERS.matcher(new String(in.readAllBytes(), StandardCharsets.UTF_8));
                return m.find() ? Integer.parseInt(m.group(1)) : -1;
            } finally {
                c.disconnect();
            }
        } catch (IOException notUpYet) {
            return -1;
        }
    }

    /** Waits until {@code n} executors (the driver not counted) have registered with the session. */
    static void awaitExecutors(SparkSession session, int n) throws InterruptedException {
        long deadline = System.currentTimeMillis() + START_TIMEOUT_MS;
        int have = 0;
        while (System.currentTimeMillis() < deadline) {
            have = session.sparkContext().statusTracker().getExecutorInfos().length - 1;
            if (have >= n) {
                return;
            }
            Thread.sleep(200);
        }
        throw new IllegalStateException("only " + have + " of " + n + " executors registered within "
                + START_TIMEOUT_MS / 1000 + " s");
    }

    private void stopProcesses() {
        List<Process> started;
        synchronized (processes) {
            started = new ArrayList<>(processes);
            processes.clear();
        }
        // Workers first (their executors are children and get stopped by PID too), the Master last.
        for (int i = started.size() - 1; i >= 0; i--) {
            Process p = started.get(i);
            List<ProcessHandle> children = p.descendants().toList();
            p.destroy();
            children.forEach(ProcessHandle::destroy);
            try {
                if (!p.waitFor(10, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                p.destroyForcibly();
            }
            children.stream().filter(ProcessHandle::isAlive).forEach(ProcessHandle::destroyForcibly);
        }
    }

    private static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String requiredProperty(String key) {
        String v = System.getProperty(key);
        if (v == null || v.isBlank()) {
            throw new IllegalStateException("system property " + key + " is not set: run the IT through 'mvn verify'");
        }
        return v;
    }
}
