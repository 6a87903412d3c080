package io.sparkmp.spark;

import org.bytedeco.javacpp.Pointer;

/**
 * What this process holds in physical memory, as javacpp sees it: its resident set ({@link Pointer#physicalBytes()},
 * Java heap, metaspace, native libraries and ND4J's off-heap arrays together) and the cap javacpp enforces on it
 * ({@code -Dorg.bytedeco.javacpp.maxphysicalbytes}, by default twice the maximum heap; 0: none).
 */
final class ProcessMemory {

    private ProcessMemory() {
    }

    /** Resident bytes of this process now; 0 where the platform does not tell. */
    static long residentBytes() {
        return Pointer.physicalBytes();
    }

    /** The javacpp cap on this process's resident bytes; 0 when unlimited. */
    static long capBytes() {
        return Pointer.maxPhysicalBytes();
    }
}
