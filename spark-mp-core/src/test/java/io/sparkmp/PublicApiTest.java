package io.sparkmp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.GenericArrayType;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.lang.reflect.WildcardType;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

/**
 * The public API of spark-mp-core is exactly the public top-level types without {@link Internal}; README's
 * "Public API" section names the same set, and no public or protected signature of an API type (nested types
 * included) mentions an internal spark-mp type.
 */
class PublicApiTest {

    /** Every public top-level class of the main output, by name. */
    private static List<Class<?>> publicTopLevel() throws IOException, URISyntaxException, ClassNotFoundException {
        Path classes = Paths.get(Internal.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        List<Class<?>> out = new ArrayList<>();
        try (Stream<Path> files = Files.walk(classes)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                String rel = classes.relativize(f).toString().replace('\\', '/');
                if (!rel.endsWith(".class") || rel.contains("$") || rel.endsWith("package-info.class")) {
                    continue;
                }
                Class<?> c = Class.forName(rel.substring(0, rel.length() - 6).replace('/', '.'), false,
                        PublicApiTest.class.getClassLoader());
                if (Modifier.isPublic(c.getModifiers())) {
                    out.add(c);
                }
            }
        }
        return out;
    }

    private static Set<String> api() throws Exception {
        Set<String> api = new TreeSet<>();
        for (Class<?> c : publicTopLevel()) {
            if (!c.isAnnotationPresent(Internal.class) && c != Internal.class) {
                api.add(c.getName());
            }
        }
        return api;
    }

    @Test
    void theReadmeListsExactlyTheApiTypes() throws Exception {
        String readme = Files.readString(Paths.get("..", "README.md"), StandardCharsets.UTF_8);
        int at = readme.indexOf("## Public API");
        assertTrue(at >= 0, "README has no '## Public API' section");
        int end = readme.indexOf("\n## ", at + 5);
        String section = readme.substring(at, end < 0 ? readme.length() : end);
        Set<String> listed = new TreeSet<>();
        Matcher m = Pattern.compile("`(io\\.sparkmp\\.[a-z]+)\\.\\{?([A-Za-z, ]+)\\}?`").matcher(section);
        while (m.find()) {
            for (String simple : m.group(2).split(",")) {
                listed.add(m.group(1) + "." + simple.trim());
            }
        }
        assertEquals(api(), listed, "README's Public API section against the public types without @Internal");
    }

    @Test
    void noApiSignatureExposesAnInternalType() throws Exception {
        Set<String> api = api();
        List<String> leaks = new ArrayList<>();
        for (String name : api) {
            check(Class.forName(name), api, leaks);
        }
        assertEquals(List.of(), leaks, "API signatures that mention internal types");
    }

    @Test
    void internalTypesAreMarkedAndTheApiIsSmall() throws Exception {
        List<Class<?>> all = publicTopLevel();
        long internal = all.stream().filter(c -> c.isAnnotationPresent(Internal.class)).count();
        Set<String> api = api();
        // the entry points a user needs are in the API ...
        for (String needed : List.of("io.sparkmp.spark.PipelineTrainer", "io.sparkmp.spark.TrainingResult",
                "io.sparkmp.spark.SparkMpConf", "io.sparkmp.ml.PipelineParallelEstimator",
                "io.sparkmp.ml.PipelineParallelModel", "io.sparkmp.plan.PipelinePlan", "io.sparkmp.schedule.ScheduleKind")) {
            assertTrue(api.contains(needed), needed + " is not in the API");
        }
        // ... and the runtime's machinery is not
        for (String inner : List.of("io.sparkmp.runtime.StageWorker", "io.sparkmp.transport.SocketTensorChannel",
                "io.sparkmp.model.StageSlice", "io.sparkmp.schedule.Schedule")) {
            assertTrue(!api.contains(inner), inner + " is in the API");
        }
        assertTrue(api.size() <= 35, "API has " + api.size() + " types (" + internal + " internal): " + api);
    }

    private static void check(Class<?> c, Set<String> api, List<String> leaks) {
        for (Method m : c.getDeclaredMethods()) {
            if (visible(m.getModifiers()) && !m.isSynthetic() && !m.isBridge()) {
                mention(m.getGenericReturnType(), c, m.getName(), api, leaks);
                for (Type t : m.getGenericParameterTypes()) {
                    mention(t, c, m.getName(), api, leaks);
                }
            }
        }
        for (Constructor<?> k : c.getDeclaredConstructors()) {
            if (visible(k.getModifiers()) && !k.isSynthetic()) {
                for (Type t : k.getGenericParameterTypes()) {
                    mention(t, c, "<init>", api, leaks);
                }
            }
        }
        for (Field f : c.getDeclaredFields()) {
            if (visible(f.getModifiers()) && !f.isSynthetic()) {
                mention(f.getGenericType(), c, f.getName(), api, leaks);
            }
        }
        if (c.getGenericSuperclass() != null) {
            mention(c.getGenericSuperclass(), c, "extends", api, leaks);
        }
        for (Type t : c.getGenericInterfaces()) {
            mention(t, c, "implements", api, leaks);
        }
        for (Class<?> nested : c.getDeclaredClasses()) {
            if (visible(nested.getModifiers())) {
                check(nested, api, leaks);
            }
        }
    }

    private static boolean visible(int modifiers) {
        return Modifier.isPublic(modifiers) || Modifier.isProtected(modifiers);
    }

    private static void mention(Type t, Class<?> owner, String member, Set<String> api, List<String> leaks) {
        if (t instanceof Class<?> k) {
            while (k.isArray()) {
                k = k.getComponentType();
            }
            Class<?> top = k;
            while (top.getEnclosingClass() != null) {
                top = top.getEnclosingClass();
            }
            if (top.getName().startsWith("io.sparkmp.") && !api.contains(top.getName())) {
                leaks.add(owner.getName() + "." + member + " -> " + k.getName());
            }
        } else if (t instanceof ParameterizedType p) {
            mention(p.getRawType(), owner, member, api, leaks);
            for (Type a : p.getActualTypeArguments()) {
                mention(a, owner, member, api, leaks);
            }
        } else if (t instanceof GenericArrayType g) {
            mention(g.getGenericComponentType(), owner, member, api, leaks);
        } else if (t instanceof WildcardType w) {
            for (Type b : w.getUpperBounds()) {
                mention(b, owner, member, api, leaks);
            }
            for (Type b : w.getLowerBounds()) {
                mention(b, owner, member, api, leaks);
            }
        } else if (t instanceof TypeVariable<?>) {
            return; // bounds are checked where declared
        }
    }
}
