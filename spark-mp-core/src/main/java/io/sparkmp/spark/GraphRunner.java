package io.sparkmp.spark;

import io.sparkmp.runtime.GraphRank;
import io.sparkmp.runtime.MiniBatch;
import io.sparkmp.store.LayerEntry;
import io.sparkmp.store.LayerFiles;
import io.sparkmp.store.ModelStore;
import io.sparkmp.transport.TensorChannel;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.util.List;
import java.util.Map;

/**
 * A graph rank as a {@link StageRunner}: its {@link GraphRank} over the task's channel. The per-layer store's
 * "layers" of a graph are its layer vertices with parameters, numbered by their index in the graph's topological
 * order ({@code GraphSlicer.order}). A step's busy time is not measured (no bubble figure for graphs).
 */
final class GraphRunner implements StageRunner {
    private final GraphRank rank;
    private final int batchSize;

    GraphRunner(JobSpec spec, int rank, TensorChannel channel) {
        this.rank = new GraphRank(spec.graphOrNull().pipeline(), rank, channel, null);
        this.batchSize = spec.batchSize();
    }

    @Override
    public RankStep runStep(int epoch, long step, MiniBatch miniBatchOrNull) {
        long t0 = System.nanoTime();
        GraphMiniBatch batch = (GraphMiniBatch) miniBatchOrNull;
        int n = batch == null ? batchSize : batch.examples();
        double loss = rank.runStep(step, epoch, batch == null ? null : batch.data(), n);
        return new RankStep(rank.device(), 0, epoch, step, loss, n, System.nanoTime() - t0, -1, -1, -1, false);
    }

    @Override
    public void readLayers(ModelStore store) throws IOException {
        Map<Integer, List<INDArray>> state = rank.stateSegments();
        for (Map.Entry<Integer, List<INDArray>> e : rank.parameterSegments().entrySet()) {
            LayerEntry entry = store.manifest().entry(e.getKey());
            if (entry == null) {
                throw new IllegalArgumentException(store.uri() + " holds no file for vertex " + e.getKey()
                        + " (topological index), which has parameters in this graph");
            }
            store.readLayerInto(e.getKey(), e.getValue(), entry.stateCount() == 0 ? List.of()
                    : state.getOrDefault(e.getKey(), List.of()));
        }
    }

    @Override
    public List<LayerEntry> writeLayers(FileSystem fs, Path dir, String tag) throws IOException {
        return LayerFiles.writeAll(fs, dir, tag, rank.parameterSegments(), rank.stateSegments());
    }

    @Override
    public void close() {
        // the stages hold no resources of their own; the channel is closed by the task
    }
}
