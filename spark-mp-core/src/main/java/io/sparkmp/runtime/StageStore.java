package io.sparkmp.runtime;

import io.sparkmp.model.StageSlice;
import io.sparkmp.store.LayerEntry;
import io.sparkmp.store.LayerFiles;
import io.sparkmp.store.ModelStore;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Moves one rank's layers between its stages and the per-layer model store: parameters and updater state
 * stream straight between the stages' own views and the file system, so a rank never holds a second copy
 * of its layers (nor any other rank's).
 */
@io.sparkmp.Internal
public final class StageStore {

    private StageStore() {
    }

    /**
     * Writes every layer with parameters of {@code worker}'s stages to {@code dir}: its parameters, then its
     * updater state (none while the updater has not been made, e.g. before the first step).
     *
     * @return one manifest entry per written layer, in layer order
     */
    public static List<LayerEntry> write(StageWorker worker, FileSystem fs, Path dir, String tag) throws IOException {
        List<LayerEntry> out = new ArrayList<>();
        for (StageSlice slice : worker.slices()) {
            out.addAll(LayerFiles.writeAll(fs, dir, tag, slice.parameterSegments(), slice.stateSegments()));
        }
        return out;
    }

    /**
     * Reads every layer with parameters of {@code worker}'s stages from a complete store, straight into the
     * stages' views: parameters, and the updater state when the store holds it (a layer stored without
     * state starts with a fresh updater, as DL4J's {@code fit} does for a network without one). The caller
     * has checked that the store holds this model ({@link ModelStore#requireSameModel}).
     *
     * @throws IllegalArgumentException when the store lacks a layer or holds another amount of state
     * @throws IOException when a file is missing, truncated or fails its checksum
     */
    public static void read(StageWorker worker, ModelStore store) throws IOException {
        for (StageSlice slice : worker.slices()) {
            Map<Integer, List<INDArray>> params = slice.parameterSegments();
            Map<Integer, List<INDArray>> state = slice.stateSegments();
            for (Map.Entry<Integer, List<INDArray>> e : params.entrySet()) {
                int layer = e.getKey();
                LayerEntry entry = store.manifest().entry(layer);
                if (entry == null) {
                    throw new IllegalArgumentException(store.uri() + " holds no file for layer " + layer
                            + ", which has parameters in this model");
                }
                List<INDArray> dst = entry.stateCount() == 0 ? List.of() : state.getOrDefault(layer, List.of());
                store.readLayerInto(layer, e.getValue(), dst);
            }
        }
    }
}
