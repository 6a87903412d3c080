package io.sparkmp.spark;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class HostFactsTest {

    @Test
    void namesTheCoresTheBackendAndTheCpuWhereTheSystemTellsIt() throws Exception {
        String d = HostFacts.hardwareDescription();
        assertTrue(d.contains(Runtime.getRuntime().availableProcessors() + " cores"), d);
        assertTrue(d.contains("nd4j "), d);
        Path info = Path.of("/proc/cpuinfo");
        if (Files.isReadable(info)) {
            String model = Files.readAllLines(info).stream().filter(l -> l.startsWith("model name")).findFirst()
                    .map(l -> l.substring(l.indexOf(':') + 1).trim()).orElse("");
            assertTrue(d.contains(model), d);
        }
    }
}
