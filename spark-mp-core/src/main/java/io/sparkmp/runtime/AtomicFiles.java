package io.sparkmp.runtime;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Replaces a local file only once its new content is complete: the content goes to a temporary file in
 * the same folder, which is then renamed over the target (atomically where the file system allows). A
 * failure leaves the old file, or none, never a half-written one.
 */
@io.sparkmp.Internal
public final class AtomicFiles {

    /** Writes the complete content to {@code tmp}; called once, before the rename. */
    @FunctionalInterface
    public interface ContentWriter {
        void write(Path tmp) throws IOException;
    }

    private AtomicFiles() {
    }

    /**
     * Writes {@code target} through {@code writer}, creating its folder if needed.
     *
     * @throws IOException when the content cannot be written or renamed; the temporary file is removed
     */
    public static void replace(Path target, ContentWriter writer) throws IOException {
        Path abs = target.toAbsolutePath();
        Files.createDirectories(abs.getParent());
        Path tmp = Files.createTempFile(abs.getParent(), "." + abs.getFileName() + ".", ".tmp");
        try {
            writer.write(tmp);
            try {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
