package io.sparkmp.spark;

import io.sparkmp.store.LayerEntry;
import io.sparkmp.store.LayerFiles;
import io.sparkmp.store.ModelStore;
import io.sparkmp.transport.TensorChannel;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import io.sparkmp.transport.TensorKey;
import org.nd4j.linalg.api.ndarray.INDArray;
import io.sparkmp.runtime.MiniBatch;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A stand-in engine for testing the task lifecycle alone (local mode, one JVM): no tensors move. Rank 0
 * writes, as "layer 0 parameters" in the store, the first feature of every mini-batch it was given; the
 * last rank reports loss = step; a rank can be told to fail at a step.
 */
final class FakeEngine implements EngineBridge, java.io.Serializable {
    private final int failRank;
    private final long failStep;
    private final long stepMillis;

    FakeEngine(int failRank, long failStep, long stepMillis) {
        this.failRank = failRank;
        this.failStep = failStep;
        this.stepMillis = stepMillis;
    }

    @Override
    public StageRunnerFactory runners() {
        int fr = failRank;
        long fs = failStep;
        long ms = stepMillis;
        return (spec, rank, channel) -> new StageRunner() {
            final List<Double> seen = new ArrayList<>();

            @Override
            public RankStep runStep(int epoch, long step, MiniBatch batch) {
                if ((rank == 0) != (batch != null)) {
                    throw new IllegalStateException("rank " + rank + " got batch " + batch);
                }
                if (rank == fr && step == fs) {
                    throw new IllegalStateException("injected failure at rank " + rank + " step " + step);
                }
                if (batch != null) {
                    if (batch.examples() != spec.batchSize()) {
                        throw new IllegalStateException("batch of " + batch.examples());
                    }
                    seen.add(batch.features(0, 1).getDouble(0, 0));
                }
                try {
                    Thread.sleep(ms);
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
                double loss = rank == spec.devices() - 1 ? step : Double.NaN;
                return new RankStep(rank, 0, epoch, step, loss, spec.batchSize(), ms * 1_000_000L, ms * 500_000L);
            }

            @Override
            public void readLayers(ModelStore store) {
                throw new UnsupportedOperationException("the fake engine starts from nothing");
            }

            /** Layer 0: the first feature of every mini-batch seen; every other layer: [rank]. */
            @Override
            public List<LayerEntry> writeLayers(FileSystem fs, Path dir, String tag) throws IOException {
                List<LayerEntry> out = new ArrayList<>();
                int[] b = spec.boundaries();
                for (int layer = b[rank]; layer < b[rank + 1]; layer++) {
                    INDArray values = layer == 0
                            ? Nd4j.createFromArray(seen.stream().mapToDouble(Double::doubleValue).toArray())
                            : Nd4j.createFromArray(new double[] {rank});
                    out.add(LayerFiles.write(fs, dir, LayerFiles.fileName(layer, tag), layer, List.of(values), List.of()));
                }
                return out;
            }

            @Override
            public void close() {
            }
        };
    }

    @Override
    public ChannelFactory channels() {
        return (spec, rank, bindHost) -> new ChannelFactory.Endpoint() {
            @Override
            public InetSocketAddress localAddress() {
                return new InetSocketAddress("127.0.0.1", 20000 + rank);
            }

            @Override
            public TensorChannel connect(Map<Integer, InetSocketAddress> peers) {
                if (peers.size() != spec.devices() || peers.get(rank).getPort() != 20000 + rank) {
                    throw new IllegalStateException("bad peers " + peers);
                }
                return new TensorChannel() {
                    @Override
                    public int localRank() {
                        return rank;
                    }

                    @Override
                    public void send(int peerRank, TensorKey key, INDArray tensor) {
                        throw new UnsupportedOperationException();
                    }

                    @Override
                    public INDArray receive(int peerRank, TensorKey key) {
                        throw new UnsupportedOperationException();
                    }

                    @Override
                    public void close() {
                    }
                };
            }

            @Override
            public void close() {
            }
        };
    }

    @Override
    public byte[] newSecret() {
        return new byte[] {1, 2, 3};
    }
}
