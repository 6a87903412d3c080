package io.sparkmp.report;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Loads a page in headless Chromium and returns the DOM after its scripts ran ({@code --dump-dom}) and
 * the page's console messages (Chromium logs them to stderr as {@code INFO:CONSOLE:<line>] "text"}).
 * Absent Chromium fails the test: the browser check is part of the suite, not optional. Public for the
 * tests of other packages that open a report written by a real training run.
 */
public final class HeadlessChromium {

    static final long TIMEOUT_SECONDS = 60;

    /** What a page load left behind. */
    public record Load(String dom, List<String> consoleLines, String stderr) {
    }

    private HeadlessChromium() {
    }

    /** The browser: {@code /usr/bin/chromium}, else {@code chromium} on the PATH; fails the test if neither. */
    static Path binary() {
        Path usual = Path.of("/usr/bin/chromium");
        if (Files.isExecutable(usual)) {
            return usual;
        }
        for (String dir : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
            Path p = Path.of(dir.isEmpty() ? "." : dir, "chromium");
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        return fail("headless Chromium is needed for the report's browser test but was not found at /usr/bin/chromium"
                + " or on the PATH: install it with `apt-get install -y chromium` (.ci/run does this)");
    }

    /**
     * Loads {@code page} with a fresh profile under {@code work}; kills the browser (by its process id,
     * children first) and fails the test if it runs past {@link #TIMEOUT_SECONDS}.
     */
    public static Load load(Path page, Path work) throws IOException, InterruptedException {
        Path profile = Files.createTempDirectory(work, "chromium-profile");
        Path out = work.resolve("dom-" + System.nanoTime() + ".html");
        Path err = work.resolve("stderr-" + System.nanoTime() + ".txt");
        List<String> cmd = List.of(binary().toString(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0", "--dump-dom",
                page.toAbsolutePath().toUri().toString());
        Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
            fail("chromium (pid " + p.pid() + ") did not finish loading " + page + " within " + TIMEOUT_SECONDS
                    + " s and was killed; stderr:\n" + Files.readString(err, StandardCharsets.UTF_8));
        }
        String stderr = Files.readString(err, StandardCharsets.UTF_8);
        if (p.exitValue() != 0) {
            fail("chromium exited with " + p.exitValue() + " loading " + page + "; stderr:\n" + stderr);
        }
        List<String> console = new ArrayList<>();
        for (String line : stderr.split("\n")) {
            if (line.contains(":CONSOLE")) {
                console.add(line);
            }
        }
        return new Load(Files.readString(out, StandardCharsets.UTF_8), console, stderr);
    }
}
