package io.sparkmp.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sparkmp.spark.SparkMpConf;
import org.apache.spark.internal.config.ConfigEntry$;
import org.apache.spark.resource.ResourceUtils$;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The templates in {@code conf/}: every JSON parses, and every Spark setting in them is one Spark itself declares
 * (its registry of config entries, filled by Spark's own config objects), a resource or executor-environment key
 * of the forms Spark reads by prefix, one of a short list of documented keys Spark reads without an entry, or a {@code spark.mp.*} key that {@link SparkMpConf} accepts with its value.
 * The GPU-shaped settings agree: one GPU per task and executor, one task per executor, the discovery script and
 * Kryo registrator that exist.
 */
class ConfTemplatesTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Keys Spark reads by prefix: spark.{executor,driver,task}.resource.NAME.{amount,discoveryScript,vendor}. */
    private static Pattern resourceKey;
    /** Environment variables the templates set on executors (checked by name: a typo would be silently unused). */
    private static final Set<String> ENV_VARS = Set.of("OMP_NUM_THREADS");
    /** Keys in Spark's configuration docs that its code reads by name, without a registered entry. */
    private static final Set<String> DOCUMENTED_UNREGISTERED = Set.of("spark.stage.maxConsecutiveAttempts");

    @BeforeAll
    static void loadSparkRegistry() throws ClassNotFoundException {
        // Spark's config objects register their entries when first initialised.
        for (String o : List.of("package$", "Kryo$", "History$", "Deploy$", "Network$", "UI$", "Worker$", "Status$")) {
            Class.forName("org.apache.spark.internal.config." + o, true, ConfTemplatesTest.class.getClassLoader());
        }
        ResourceUtils$ r = ResourceUtils$.MODULE$;
        resourceKey = Pattern.compile("spark\\.(executor|driver|task)\\.resource\\.[A-Za-z0-9_.-]+\\.("
                + r.AMOUNT() + "|" + r.DISCOVERY_SCRIPT() + "|" + r.VENDOR() + ")");
    }

    @Test
    void theSparkRegistryIsFilledAndRefusesAMisspeltKey() {
        // The check below is only as good as the registry: it knows Spark's keys and not a near miss.
        assertTrue(isSparkKey("spark.executor.memory"));
        assertTrue(isSparkKey("spark.kryo.registrator"));
        assertTrue(isSparkKey("spark.executor.resource.gpu.amount"));
        assertFalse(isSparkKey("spark.executor.memroy"));
        assertFalse(isSparkKey("spark.executor.resource.gpu.amunt"));
        assertFalse(isSparkKey("spark.kryo.registrar"));
        assertThrows(IllegalArgumentException.class, () -> checkKeys("test", Map.of("spark.mp.microBatch", "4")));
        assertThrows(IllegalArgumentException.class, () -> checkKeys("test", Map.of("spark.mp.microBatches", "x")));
    }

    @Test
    void everyJsonParses() throws IOException {
        List<Path> files;
        try (Stream<Path> s = Files.walk(ConfDir.path())) {
            files = s.filter(p -> p.toString().endsWith(".json")).sorted().toList();
        }
        assertTrue(files.size() >= 4, "example model, 2 Databricks, 1 EMR; found " + files);
        for (Path f : files) {
            try {
                JSON.readTree(f.toFile());
            } catch (IOException e) {
                fail(f + " does not parse: " + e.getMessage());
            }
        }
    }

    @Test
    void sparkDefaultsTemplate() throws IOException {
        Map<String, String> conf = properties(ConfDir.path().resolve("spark-defaults.conf.template"));
        checkKeys("spark-defaults.conf.template", conf);
        checkGpuShape("spark-defaults.conf.template", conf, true);
        assertEquals("true", conf.get("spark.eventLog.enabled"));
    }

    @Test
    void databricksCluster() throws IOException {
        JsonNode cluster = JSON.readTree(ConfDir.path().resolve("databricks/cluster.json").toFile());
        Map<String, String> conf = strings(cluster.get("spark_conf"));
        checkKeys("databricks/cluster.json spark_conf", conf);
        // Databricks sets the executor's GPU amount and discovery itself on GPU runtimes; the task's is ours.
        checkGpuShape("databricks/cluster.json", conf, false);
        assertTrue(cluster.get("spark_version").asText().contains("gpu"), "a GPU runtime");
        assertTrue(cluster.get("num_workers").asInt() >= 2, "fixed size, at least 2 stages");
        assertFalse(cluster.has("autoscale"), "a barrier job needs its executors for the whole run");
        checkEnv("databricks/cluster.json spark_env_vars", strings(cluster.get("spark_env_vars")).keySet());
        String init = cluster.get("init_scripts").get(0).get("volumes").get("destination").asText();
        assertTrue(init.endsWith("/init-spark-mp.sh") && Files.isRegularFile(ConfDir.path()
                .resolve("databricks/init-spark-mp.sh")), init);
        JsonNode libs = JSON.readTree(ConfDir.path().resolve("databricks/libraries.json").toFile());
        assertTrue(libs.get("libraries").get(0).get("jar").asText().endsWith("-all.jar"), "the assembly jar");
    }

    @Test
    void emrConfigurations() throws IOException {
        JsonNode all = JSON.readTree(ConfDir.path().resolve("emr/configurations.json").toFile());
        Map<String, JsonNode> byClass = new LinkedHashMap<>();
        all.forEach(c -> byClass.put(c.get("Classification").asText(), c));
        Map<String, String> conf = strings(byClass.get("spark-defaults").get("Properties"));
        checkKeys("emr/configurations.json spark-defaults", conf);
        checkGpuShape("emr/configurations.json", conf, true);
        JsonNode export = byClass.get("spark-env").get("Configurations").get(0);
        assertEquals("export", export.get("Classification").asText());
        checkEnv("emr/configurations.json spark-env", strings(export.get("Properties")).keySet());
        // YARN's GPU scheduling: the plugin and the resource type name the same resource.
        Map<String, String> yarn = strings(byClass.get("yarn-site").get("Properties"));
        assertEquals("yarn.io/gpu", yarn.get("yarn.resource-types"));
        assertEquals("yarn.io/gpu", yarn.get("yarn.nodemanager.resource-plugins"));
        assertTrue(strings(byClass.get("capacity-scheduler").get("Properties"))
                .get("yarn.scheduler.capacity.resource-calculator").endsWith("DominantResourceCalculator"),
                "YARN counts GPUs only with the dominant resource calculator");
    }

    @Test
    void log4jConfigurationKeepsSparkMpAtInfoAndSparkAtWarn() throws IOException {
        Map<String, String> p = properties(ConfDir.path().resolve("log4j2.properties"));
        assertEquals("warn", p.get("rootLogger.level"));
        Map<String, String> levels = new LinkedHashMap<>();
        p.forEach((k, v) -> {
            if (k.startsWith("logger.") && k.endsWith(".name")) {
                levels.put(v, p.get(k.substring(0, k.length() - ".name".length()) + ".level"));
            }
        });
        assertEquals("info", levels.get("io.sparkmp"));
        assertEquals("warn", levels.get("org.apache.spark"));
        assertEquals(p.get("appender.console.name"), p.get("rootLogger.appenderRef.stdout.ref"));
    }

    /** One GPU per task and per executor, the task takes all the executor's cores, no dynamic allocation. */
    private static void checkGpuShape(String where, Map<String, String> conf, boolean executorGpus) {
        assertEquals("1", conf.get("spark.task.resource.gpu.amount"), where);
        if (executorGpus) {
            assertEquals("1", conf.get("spark.executor.resource.gpu.amount"), where);
            assertEquals(conf.get("spark.executor.cores"), conf.get("spark.task.cpus"),
                    where + ": one task per executor");
            String script = conf.get("spark.executor.resource.gpu.discoveryScript");
            assertTrue(script != null && script.endsWith("/gpu-discovery.sh"), where + ": " + script);
        }
        assertEquals("false", conf.get("spark.dynamicAllocation.enabled"), where);
        assertEquals("org.apache.spark.serializer.KryoSerializer", conf.get("spark.serializer"), where);
        String registrator = conf.get("spark.kryo.registrator");
        try {
            Class.forName(registrator);
        } catch (ClassNotFoundException e) {
            fail(where + ": spark.kryo.registrator " + registrator + " is no class");
        }
        if (conf.containsKey("spark.executorEnv.OMP_NUM_THREADS")) {
            assertEquals(conf.get("spark.task.cpus"), conf.get("spark.executorEnv.OMP_NUM_THREADS"),
                    where + ": ND4J threads = the task's cores");
        }
    }

    /** Every key is Spark's or spark-mp's; spark-mp's values parse. */
    private static void checkKeys(String where, Map<String, String> conf) {
        List<String> unknown = new ArrayList<>();
        for (String k : conf.keySet()) {
            if (!k.startsWith("spark.mp.") && !isSparkKey(k)) {
                unknown.add(k);
            }
        }
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException(where + ": keys Spark does not know: " + unknown);
        }
        SparkMpConf.of(conf); // throws naming an unknown spark.mp key or a bad value
    }

    private static boolean isSparkKey(String k) {
        if (ConfigEntry$.MODULE$.findEntry(k) != null || resourceKey.matcher(k).matches()
                || DOCUMENTED_UNREGISTERED.contains(k)) {
            return true;
        }
        return k.startsWith("spark.executorEnv.") && ENV_VARS.contains(k.substring("spark.executorEnv.".length()));
    }

    private static void checkEnv(String where, Set<String> names) {
        assertTrue(ENV_VARS.containsAll(names), where + ": unexpected environment variables " + names);
    }

    private static Map<String, String> properties(Path f) throws IOException {
        // Spark reads spark-defaults.conf with java.util.Properties too (whitespace separates key and value).
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(f)) {
            p.load(r);
        }
        Map<String, String> out = new LinkedHashMap<>();
        p.stringPropertyNames().forEach(k -> out.put(k, p.getProperty(k).strip()));
        assertFalse(out.isEmpty(), f + " is empty");
        return out;
    }

    private static Map<String, String> strings(JsonNode object) {
        Map<String, String> out = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = object.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            assertTrue(e.getValue().isTextual(), e.getKey() + " must be a string, found " + e.getValue());
            out.put(e.getKey(), e.getValue().asText());
        }
        return out;
    }
}
