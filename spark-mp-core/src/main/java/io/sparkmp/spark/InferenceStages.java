package io.sparkmp.spark;

import io.sparkmp.model.ModelSlicer;
import io.sparkmp.model.StageSlice;
import io.sparkmp.runtime.PipelineSpec;
import io.sparkmp.store.ModelStore;
import org.apache.hadoop.conf.Configuration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Builds the stages a transform task runs, with their parameters read from the model's per-layer store. */
final class InferenceStages {

    private InferenceStages() {
    }

    /**
     * Stages {@code stages} of {@code p}'s split, in that order, each holding only its own layers' parameters
     * (read layer by layer from {@code store}; updater state is not kept).
     *
     * @throws UncheckedIOException naming the store when a layer cannot be read
     */
    static Map<Integer, StageSlice> read(PipelineSpec p, List<Integer> stages, URI store, Configuration hadoop) {
        MultiLayerConfiguration conf = p.configuration();
        int[] boundaries = p.boundaries();
        Map<Integer, StageSlice> out = new LinkedHashMap<>();
        try {
            ModelStore m = ModelStore.open(store, hadoop);
            for (int s : stages) {
                Map<Integer, INDArray> params = new HashMap<>();
                for (int layer = boundaries[s]; layer < boundaries[s + 1]; layer++) {
                    if (m.hasLayer(layer)) {
                        params.put(layer, m.readLayer(layer)[0]);
                    }
                }
                out.put(s, ModelSlicer.slice(conf, boundaries, s, p.seed(), params.isEmpty() ? null : params, true));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the model's layers from " + store + ": " + e.getMessage(), e);
        }
        return out;
    }
}
