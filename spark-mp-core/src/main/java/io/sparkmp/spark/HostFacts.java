package io.sparkmp.spark;

import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/** Facts of the machine this JVM runs on, for the profile cache key (host facts live here, not in {@code model}). */
final class HostFacts {

    private HostFacts() {
    }

    /**
     * This machine as a cache-key string: OS and architecture, CPU model, cores, ND4J backend and its thread
     * count (the figures that change layer times).
     */
    static String hardwareDescription() {
        String cpu = "";
        try {
            Path info = Path.of("/proc/cpuinfo");
            if (Files.isReadable(info)) {
                for (String line : Files.readAllLines(info, StandardCharsets.UTF_8)) {
                    if (line.startsWith("model name")) {
                        cpu = line.substring(line.indexOf(':') + 1).trim();
                        break;
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            cpu = "unknown cpu"; // the key only gets less specific
        }
        return String.format(Locale.ROOT, "%s %s; %s; %d cores; nd4j %s, %d threads", System.getProperty("os.name"),
                System.getProperty("os.arch"), cpu, Runtime.getRuntime().availableProcessors(),
                Nd4j.getBackend().getClass().getSimpleName(), Nd4j.getEnvironment().maxThreads());
    }
}
