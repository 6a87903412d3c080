package io.sparkmp.examples;

import org.deeplearning4j.config.DL4JSystemProperties;
import org.deeplearning4j.util.CrashReportingUtil;

import java.io.File;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;

/**
 * Where {@link TrainJob} has DL4J write its memory crash dumps, and which of them a failed run wrote.
 *
 * <p>On an out-of-memory error DL4J writes {@code dl4j-memory-crash-dump-<time>_<thread>.txt} with the model's memory
 * report, by default into the working directory. The job sends them to one known folder instead: the folder given by
 * {@code -Dorg.deeplearning4j.crash.reporting.directory} when set (DL4J's own property), else
 * {@code <java.io.tmpdir>/spark-mp-crash-dumps}. When training fails with an out-of-memory error the error line names
 * the dumps written since the job started. Executors on a cluster write theirs into their own working directory
 * (next to their stderr), which the line says when no dump was written in this JVM.
 */
final class CrashDumps {
    static final String PREFIX = "dl4j-memory-crash-dump-";

    private final Path dir;
    private final long sinceMillis;

    private CrashDumps(Path dir, long sinceMillis) {
        this.dir = dir;
        this.sinceMillis = sinceMillis;
    }

    /** Points DL4J's crash dumps at the job's folder (see the class comment) and remembers when the job started. */
    static CrashDumps install() {
        String given = System.getProperty(DL4JSystemProperties.CRASH_DUMP_OUTPUT_DIRECTORY_PROPERTY);
        Path dir = given != null && !given.isEmpty() ? Paths.get(given)
                : Paths.get(System.getProperty("java.io.tmpdir"), "spark-mp-crash-dumps");
        return at(dir);
    }

    /** As {@link #install()} with an explicit folder (tests). */
    static CrashDumps at(Path dir) {
        CrashReportingUtil.crashDumpOutputDirectory(dir.toFile());
        // file times may have second granularity: a dump written in the job's first second still counts
        return new CrashDumps(dir.toAbsolutePath(), System.currentTimeMillis() / 1000 * 1000);
    }

    Path directory() {
        return dir;
    }

    /** The dumps in the folder written since {@link #install()}, oldest first. */
    List<Path> written() {
        List<Path> found = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return found;
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, PREFIX + "*.txt")) {
            for (Path p : ds) {
                if (Files.getLastModifiedTime(p).toMillis() >= sinceMillis) {
                    found.add(p);
                }
            }
        } catch (IOException e) {
            return found; // the error line then names the folder only
        }
        found.sort((a, b) -> a.getFileName().toString().compareTo(b.getFileName().toString()));
        return found;
    }

    /**
     * What the error line adds for a failure {@code t}: nothing unless an out-of-memory error is in its causes (or its
     * message says so, as a task failure relayed from an executor does); then the dumps written, or where they are.
     */
    String describe(Throwable t) {
        if (!outOfMemory(t)) {
            return "";
        }
        List<Path> dumps = written();
        if (dumps.isEmpty()) {
            return "; out of memory: no DL4J crash dump was written in this JVM (" + dir + "); executors on a cluster"
                    + " write theirs into their working directory, next to their stderr";
        }
        StringBuilder sb = new StringBuilder("; out of memory: DL4J's memory crash dump");
        sb.append(dumps.size() == 1 ? " is " : "s are ");
        for (int i = 0; i < dumps.size(); i++) {
            sb.append(i == 0 ? "" : ", ").append(dumps.get(i));
        }
        return sb.toString();
    }

    static boolean outOfMemory(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof OutOfMemoryError) {
                return true;
            }
            String m = c.getMessage();
            if (m != null && (m.contains("OutOfMemoryError") || m.contains("Cannot allocate new"))) {
                return true;
            }
        }
        return false;
    }

    /** For the log: DL4J's folder now, so a test can check that {@link #install()} took effect. */
    static File dl4jDirectory() {
        return CrashReportingUtil.getCrashDumpRootDirectory();
    }
}
