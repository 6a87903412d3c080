package io.sparkmp.deploy;

import java.nio.file.Files;
import java.nio.file.Path;

/** The repository's {@code conf/} folder, for the tests of its templates. */
final class ConfDir {
    private ConfDir() {
    }

    static Path path() {
        Path root = Path.of(System.getProperty("sparkmp.root", ".."));
        Path conf = root.resolve("conf");
        if (!Files.isRegularFile(conf.resolve("spark-defaults.conf.template"))) {
            throw new IllegalStateException("no conf/spark-defaults.conf.template under " + root.toAbsolutePath()
                    + " (set -Dsparkmp.root to the repository root)");
        }
        return conf;
    }
}
