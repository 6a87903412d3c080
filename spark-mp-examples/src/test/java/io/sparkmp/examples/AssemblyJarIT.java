package io.sparkmp.examples;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Enumeration;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.jar.JarFile;
import java.util.jar.Manifest;
import java.util.zip.ZipEntry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The assembly jar (-Pdist) is fit for a cluster that brings its own Spark: no Spark, Hadoop or Scala classes
 * (nor the logging and Kryo that Spark ships), but spark-mp, DL4J, ND4J and one backend's natives for
 * linux-x86_64, and TrainJob as its main class. Runs in the dist profile only (the jar exists only there).
 */
class AssemblyJarIT {
    /** Packages the cluster provides; a second copy in the jar would clash with Spark's. */
    private static final List<String> FORBIDDEN = List.of("org/apache/spark/", "org/apache/hadoop/", "scala/",
            "org/slf4j/", "org/apache/logging/log4j/", "com/esotericsoftware/kryo/");

    @Test
    void holdsNoSparkHadoopOrScalaAndEverythingSparkMpNeeds() throws IOException {
        Path jar = Path.of(System.getProperty("sparkmp.assemblyJar", "target/none-all.jar"));
        assertTrue(Files.isRegularFile(jar), jar + " is missing: build it with -Pdist");
        Set<String> entries = new TreeSet<>();
        TreeMap<String, Integer> topLevel = new TreeMap<>();
        try (JarFile f = new JarFile(jar.toFile())) {
            for (Enumeration<? extends ZipEntry> e = f.entries(); e.hasMoreElements(); ) {
                String name = e.nextElement().getName();
                entries.add(name);
                topLevel.merge(packageOf(name), 1, Integer::sum);
            }
            Manifest m = f.getManifest();
            assertEquals(TrainJob.class.getName(), m.getMainAttributes().getValue("Main-Class"));
        }
        System.out.printf("AssemblyJarIT: %s, %.1f MB, %d entries; top-level packages: %s%n", jar.getFileName(),
                Files.size(jar) / 1e6, entries.size(), topLevel);
        for (String pkg : FORBIDDEN) {
            List<String> found = entries.stream().filter(n -> n.startsWith(pkg)).limit(5).toList();
            assertTrue(found.isEmpty(), "the jar holds " + pkg + " (the cluster's own): " + found);
        }
        for (String needed : List.of("io/sparkmp/spark/PipelineTrainer.class", "io/sparkmp/examples/TrainJob.class",
                "io/sparkmp/spark/SparkMpKryoRegistrator.class",
                "org/deeplearning4j/nn/multilayer/MultiLayerNetwork.class", "org/nd4j/linalg/factory/Nd4j.class")) {
            assertTrue(entries.contains(needed), "the jar lacks " + needed);
        }
        assertTrue(entries.stream().anyMatch(n -> n.contains("linux-x86_64/") && n.endsWith(".so")),
                "the jar holds no linux-x86_64 natives");
        assertTrue(entries.contains("META-INF/services/org.nd4j.linalg.factory.Nd4jBackend"),
                "ND4J finds its backend through this service file");
    }

    /** The first two path segments of a class or resource ({@code org/nd4j}), or the file at the top. */
    private static String packageOf(String entry) {
        String[] parts = entry.split("/");
        if (parts.length == 1) {
            return "(top)";
        }
        return parts.length > 2 && !entry.startsWith("META-INF/") ? parts[0] + "/" + parts[1] : parts[0];
    }
}
