package io.sparkmp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

/**
 * The package layers of DESIGN.md, read from the main sources (code only, comments stripped): which spark-mp
 * packages each package may use, that only {@code spark} and {@code ml} touch Spark (or Scala), and that
 * {@code schedule} and {@code plan} are pure (no ND4J, DL4J, Spark, Hadoop or file and socket I/O).
 */
class LayeringTest {

    private static final Path MAIN = Paths.get("src", "main", "java", "io", "sparkmp");

    /** Package to the spark-mp packages it may use: DESIGN.md's arrows as the code has them. */
    private static final Map<String, Set<String>> MAY_USE = Map.of(
            "schedule", Set.of(),
            "plan", Set.of("schedule"),
            "model", Set.of("plan"), // the profile records only (README: one deliberate change to the arrows)
            "transport", Set.of(),
            "store", Set.of("model"),
            "runtime", Set.of("model", "schedule", "store", "transport"),
            "report", Set.of("runtime", "schedule"),
            "spark", Set.of("model", "plan", "report", "runtime", "schedule", "store", "transport"),
            "ml", Set.of("model", "plan", "report", "runtime", "schedule", "spark", "store", "transport"));

    private static final Pattern SPARKMP_USE = Pattern.compile("\\bio\\.sparkmp\\.([a-z]+)\\.[A-Z*]");
    private static final Pattern SPARK_USE = Pattern.compile("\\b(org\\.apache\\.spark|scala)\\.[a-zA-Z]");
    private static final Pattern IMPURE_USE = Pattern.compile(
            "\\b(org\\.nd4j|org\\.deeplearning4j|org\\.bytedeco|org\\.apache|scala|java\\.net|java\\.nio\\.file"
                    + "|java\\.io\\.(File|Input|Output|Reader|Writer|Random))\\b");
    private static final Pattern COMMENTS = Pattern.compile("/\\*.*?\\*/|//[^\\n]*", Pattern.DOTALL);

    private static String code(Path file) throws IOException {
        return COMMENTS.matcher(Files.readString(file, StandardCharsets.UTF_8)).replaceAll(" ");
    }

    private static List<Path> sources(String pkg) throws IOException {
        try (Stream<Path> s = Files.list(MAIN.resolve(pkg))) {
            return s.filter(p -> p.toString().endsWith(".java")).sorted().toList();
        }
    }

    @Test
    void everyPackageIsKnownToTheRules() throws IOException {
        Set<String> packages = new TreeSet<>();
        try (Stream<Path> s = Files.list(MAIN)) {
            s.filter(Files::isDirectory).forEach(d -> packages.add(d.getFileName().toString()));
        }
        assertEquals(new TreeSet<>(MAY_USE.keySet()), packages, "a new package needs its arrows in DESIGN.md and here");
    }

    @Test
    void packagesUseOnlyTheLayersBelowThem() throws IOException {
        List<String> wrong = new ArrayList<>();
        for (Map.Entry<String, Set<String>> e : MAY_USE.entrySet()) {
            for (Path f : sources(e.getKey())) {
                Matcher m = SPARKMP_USE.matcher(code(f));
                while (m.find()) {
                    String used = m.group(1);
                    if (!used.equals(e.getKey()) && !e.getValue().contains(used)) {
                        wrong.add(e.getKey() + "/" + f.getFileName() + " uses io.sparkmp." + used);
                    }
                }
            }
        }
        assertEquals(List.of(), wrong);
    }

    @Test
    void onlySparkAndMlTouchSpark() throws IOException {
        List<String> wrong = new ArrayList<>();
        for (String pkg : MAY_USE.keySet()) {
            if (pkg.equals("spark") || pkg.equals("ml")) {
                continue;
            }
            for (Path f : sources(pkg)) {
                Matcher m = SPARK_USE.matcher(code(f));
                if (m.find()) {
                    wrong.add(pkg + "/" + f.getFileName() + " uses " + m.group(1));
                }
            }
        }
        assertEquals(List.of(), wrong);
        // the rule has teeth: the Spark entry point for Kryo is found where it now lives
        assertTrue(SPARK_USE.matcher(code(MAIN.resolve("spark").resolve("SparkMpKryoRegistrator.java"))).find());
    }

    @Test
    void scheduleAndPlanArePure() throws IOException {
        List<String> wrong = new ArrayList<>();
        for (String pkg : List.of("schedule", "plan")) {
            for (Path f : sources(pkg)) {
                Matcher m = IMPURE_USE.matcher(code(f));
                while (m.find()) {
                    wrong.add(pkg + "/" + f.getFileName() + " uses " + m.group(1));
                }
            }
        }
        assertEquals(List.of(), wrong);
    }
}
