package io.sparkmp.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code conf/gpu-discovery.sh} against a fake {@code nvidia-smi} on the PATH (the PATH holds nothing else: the
 * script uses bash builtins only): the JSON Spark's resource discovery parses, and a clear failure without GPUs.
 */
class GpuDiscoveryScriptTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path bin;

    private record Run(int exit, String stdout, String stderr) {
    }

    @Test
    void fourGpusGiveFourAddressesInOrder() throws Exception {
        fakeNvidiaSmi("printf '0\\n1\\n2\\n3\\n'", 0);
        Run r = run();
        assertEquals(0, r.exit, r.stderr);
        JsonNode j = JSON.readTree(r.stdout);
        assertEquals("gpu", j.get("name").asText());
        assertEquals(List.of("0", "1", "2", "3"), addresses(j));
    }

    @Test
    void oneGpuGivesOneAddress() throws Exception {
        fakeNvidiaSmi("echo 0", 0);
        Run r = run();
        assertEquals(0, r.exit, r.stderr);
        assertEquals("{\"name\": \"gpu\", \"addresses\": [\"0\"]}", r.stdout.strip());
    }

    @Test
    void indicesWithSpacesAndCarriageReturnsAreTrimmed() throws Exception {
        fakeNvidiaSmi("printf ' 2\\r\\n\\n 5 \\n'", 0);
        Run r = run();
        assertEquals(0, r.exit, r.stderr);
        assertEquals(List.of("2", "5"), addresses(JSON.readTree(r.stdout)));
    }

    @Test
    void noGpuFailsNamingIt() throws Exception {
        fakeNvidiaSmi("true", 0);
        assertRefused(run(), "nvidia-smi lists no GPU");
    }

    @Test
    void failingNvidiaSmiFailsWithItsMessage() throws Exception {
        fakeNvidiaSmi("echo 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.'", 9);
        assertRefused(run(), "nvidia-smi failed", "could not communicate");
    }

    @Test
    void missingNvidiaSmiFailsNamingThePath() throws Exception {
        assertRefused(run(), "nvidia-smi not found on PATH (" + bin + ")");
    }

    @Test
    void unexpectedOutputIsRefused() throws Exception {
        fakeNvidiaSmi("echo 'No devices were found'", 0);
        assertRefused(run(), "unexpected line from nvidia-smi", "No devices");
    }

    @Test
    void theScriptAsksNvidiaSmiForIndicesOnly() throws Exception {
        Path args = bin.resolve("args.txt");
        fakeNvidiaSmi("echo \"$@\" > '" + args + "'; echo 0", 0);
        assertEquals(0, run().exit);
        assertEquals("--query-gpu=index --format=csv,noheader", Files.readString(args).strip());
    }

    /** Exit 1, nothing on stdout for Spark to mistake for a GPU list, and stderr saying why. */
    private static void assertRefused(Run r, String... reasons) {
        assertEquals(1, r.exit, r.stderr);
        assertEquals("", r.stdout);
        for (String why : reasons) {
            assertTrue(r.stderr.contains(why), "stderr lacks '" + why + "': " + r.stderr);
        }
    }

    private static List<String> addresses(JsonNode j) {
        List<String> out = new ArrayList<>();
        j.get("addresses").forEach(a -> out.add(a.asText()));
        return out;
    }

    private void fakeNvidiaSmi(String body, int exit) throws IOException {
        Path f = bin.resolve("nvidia-smi");
        Files.writeString(f, "#!/bin/bash\n" + body + "\nexit " + exit + "\n");
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    private Run run() throws Exception {
        Path script = ConfDir.path().resolve("gpu-discovery.sh");
        ProcessBuilder pb = new ProcessBuilder("/bin/bash", script.toString());
        pb.environment().put("PATH", bin.toString());
        pb.environment().put("HOSTNAME", "worker-7");
        Process p = pb.start();
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("gpu-discovery.sh did not end within 30 s");
        }
        return new Run(p.exitValue(), new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8),
                new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8));
    }
}
