package io.sparkmp.store;

import java.io.Serializable;

/**
 * One layer's file as the manifest records it.
 *
 * @param layer index of the layer in the full model
 * @param file name of the file, relative to the store directory
 * @param dataType ND4J data type name of every value in the file ({@code DOUBLE}, {@code FLOAT}, ...)
 * @param paramCount number of parameter values
 * @param stateCount number of updater-state values (0 for a stateless updater)
 * @param bytes length of the file, header included
 * @param checksum CRC32C of the whole file, 8 lower-case hex digits
 */
public record LayerEntry(int layer, String file, String dataType, long paramCount, long stateCount, long bytes,
                         String checksum) implements Serializable {

    public LayerEntry {
        if (layer < 0) {
            throw new IllegalArgumentException("layer must be non-negative, found " + layer);
        }
        LayerFiles.checkFileName(file);
        LayerFormat.codeOf(dataType);
        if (paramCount < 0 || stateCount < 0) {
            throw new IllegalArgumentException("counts of " + file + " must be non-negative, found params "
                    + paramCount + ", state " + stateCount);
        }
        long expected = LayerFormat.fileBytes(dataType, paramCount, stateCount);
        if (bytes != expected) {
            throw new IllegalArgumentException("bytes of " + file + " must be " + expected + " for " + paramCount
                    + " + " + stateCount + " " + dataType + " values, found " + bytes);
        }
        if (checksum == null || !checksum.matches("[0-9a-f]{8}")) {
            throw new IllegalArgumentException("checksum of " + file + " must be 8 lower-case hex digits, found "
                    + checksum);
        }
    }
}
