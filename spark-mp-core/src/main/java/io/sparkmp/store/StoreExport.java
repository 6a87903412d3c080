package io.sparkmp.store;

import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

import org.apache.hadoop.conf.Configuration;
import org.deeplearning4j.util.ModelSerializer;

/**
 * Command line: {@code StoreExport <store URI> <out.zip>} turns a store into a DL4J ModelSerializer zip
 * (updater state included), for models that fit this JVM. Exit status 0 on success, 2 on bad input, 1 when
 * reading or writing fails.
 */
public final class StoreExport {

    private StoreExport() {
    }

    public static void main(String[] args) {
        // A command-line main ends with exit: ND4J and Hadoop leave non-daemon threads behind.
        System.exit(run(args, System.out, System.err));
    }

    static int run(String[] args, PrintStream out, PrintStream err) {
        if (args.length != 2) {
            err.println("usage: StoreExport <store URI> <out.zip>   (found " + args.length + " arguments)");
            return 2;
        }
        URI uri;
        try {
            uri = new URI(args[0]);
        } catch (URISyntaxException e) {
            err.println("store URI " + args[0] + " is not a URI: " + e.getMessage());
            return 2;
        }
        if (uri.getScheme() == null) {
            uri = Path.of(args[0]).toAbsolutePath().toUri();
        }
        Path zip = Path.of(args[1]).toAbsolutePath();
        if (!Files.isDirectory(zip.getParent())) {
            err.println("output folder " + zip.getParent() + " does not exist");
            return 2;
        }
        if (Files.isDirectory(zip)) {
            err.println("output " + zip + " is a directory, expected a .zip file name");
            return 2;
        }
        ModelStore store;
        try {
            store = ModelStore.open(uri, new Configuration());
        } catch (IllegalArgumentException e) {
            err.println(e.getMessage());
            return 2;
        } catch (IOException e) {
            err.println("cannot open " + uri + ": " + e.getMessage());
            return 2;
        }
        Path tmp = null;
        try {
            org.deeplearning4j.nn.api.Model net = store.holdsGraph() ? store.toGraph() : store.toNetwork();
            tmp = Files.createTempFile(zip.getParent(), "." + zip.getFileName() + ".", ".tmp");
            ModelSerializer.writeModel(net, tmp.toFile(), true);
            try {
                Files.move(tmp, zip, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, zip, StandardCopyOption.REPLACE_EXISTING);
            }
            out.println("wrote " + zip + " (" + net.numParams() + " parameters, iteration "
                    + store.manifest().iteration() + ") from " + uri);
            return 0;
        } catch (IOException | RuntimeException e) {
            err.println("cannot export " + uri + " to " + zip + ": " + e.getMessage());
            return 1;
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // the export's own outcome is what the caller needs to see
                }
            }
        }
    }
}
