package io.sparkmp.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

import io.sparkmp.model.TestModels;
import io.sparkmp.schedule.ScheduleKind;
import io.sparkmp.transport.ForwardingChannel;
import io.sparkmp.transport.TensorChannel;
import io.sparkmp.transport.TensorKey;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * {@link PipelineSpec#peersOf} is exactly the set of ranks a rank's worker talks to: two steps of real stage
 * workers run over in-process channels that record every (rank, peer) pair of a send or receive, and the
 * recorded sets must equal {@code peersOf} (a missing peer would be an unlinked socket, an extra one a
 * wasted link and its threads).
 */
class PeersTest {

    @ParameterizedTest(name = "{0}, P={1}, v={2}")
    @CsvSource({
        "ONE_F_ONE_B, 1, 1", "ONE_F_ONE_B, 2, 1", "ONE_F_ONE_B, 3, 1", "ONE_F_ONE_B, 4, 1",
        "GPIPE, 3, 1",
        "INTERLEAVED_1F1B, 2, 2", "INTERLEAVED_1F1B, 3, 2", "INTERLEAVED_1F1B, 4, 2"
    })
    void peersOfIsExactlyWhoTheWorkersTalkTo(ScheduleKind kind, int devices, int virtualStages) throws Exception {
        int stages = devices * virtualStages;
        int[] boundaries = new int[stages + 1];
        for (int s = 0; s <= stages; s++) {
            boundaries[s] = s;
        }
        PipelineSpec spec = PipelineSpec.of(mlp(stages), boundaries, kind, devices, virtualStages, devices, 4 * devices,
                TestModels.SEED);
        List<Set<Integer>> talked = talked(spec, TestModels.data("mlp", DataType.FLOAT, 2, 4 * devices, 7));
        for (int r = 0; r < devices; r++) {
            assertEquals(new TreeSet<>(talked.get(r)), spec.peersOf(r), "peers of rank " + r + " in " + spec);
        }
    }

    @ParameterizedTest(name = "{0}, P={1}, v={2}, R={3}")
    @CsvSource({"ONE_F_ONE_B, 2, 1, 2", "GPIPE, 1, 1, 3", "ONE_F_ONE_B, 3, 1, 3", "INTERLEAVED_1F1B, 2, 2, 2"})
    void withReplicasAPeerIsAPipelineNeighbourOrARingNeighbour(ScheduleKind kind, int devices, int virtualStages,
                                                               int replicas) throws Exception {
        int stages = devices * virtualStages;
        int[] boundaries = new int[stages + 1];
        for (int s = 0; s <= stages; s++) {
            boundaries[s] = s;
        }
        PipelineSpec spec = PipelineSpec.of(mlp(stages), boundaries, kind, devices, virtualStages, devices,
                4 * devices * replicas, TestModels.SEED).withReplicas(replicas);
        Topology t = spec.topology();
        List<Set<Integer>> talked = talked(spec, TestModels.data("mlp", DataType.FLOAT, 2, 4 * devices * replicas, 7));
        for (int r = 0; r < t.ranks(); r++) {
            assertEquals(new TreeSet<>(talked.get(r)), spec.peersOf(r), "peers of " + t.describe(r) + " in " + spec);
            for (int p : spec.peersOf(r)) {
                boolean sameReplica = t.replica(p) == t.replica(r);
                boolean sameDevice = t.device(p) == t.device(r);
                assertTrue(sameReplica || sameDevice, t.describe(r) + " links to " + t.describe(p));
                if (sameDevice) { // a ring neighbour
                    int d = Math.floorMod(t.replica(p) - t.replica(r), replicas);
                    assertTrue(d == 1 || d == replicas - 1, t.describe(r) + " links to " + t.describe(p));
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}, P={1}, v={2}")
    @CsvSource({"ONE_F_ONE_B, 1, 1", "ONE_F_ONE_B, 4, 1", "ONE_F_ONE_B, 6, 1", "INTERLEAVED_1F1B, 4, 2",
        "INTERLEAVED_1F1B, 6, 2"})
    void peersOfIsSymmetricAndSparseForLongPipelines(ScheduleKind kind, int devices, int virtualStages) {
        int stages = devices * virtualStages;
        int[] boundaries = new int[stages + 1];
        for (int s = 0; s <= stages; s++) {
            boundaries[s] = s;
        }
        PipelineSpec spec = PipelineSpec.of(mlp(stages), boundaries, kind, devices, virtualStages, devices, devices, 1);
        int links = 0;
        for (int r = 0; r < devices; r++) {
            SortedSet<Integer> mine = spec.peersOf(r);
            assertTrue(!mine.contains(r), "rank " + r + " must not be its own peer: " + mine);
            for (int p : mine) {
                assertTrue(spec.peersOf(p).contains(r), "rank " + r + " names " + p + " but not the reverse");
            }
            links += mine.size();
        }
        // Control traffic runs along the pipeline: a rank links only to the ranks of its stages' neighbours,
        // P - 1 links in a chain, plus the wrap from rank P - 1 back to rank 0 with v = 2 (a ring of P links).
        int expected = devices == 1 ? 0 : virtualStages == 1 ? devices - 1 : devices;
        assertEquals(expected, links / 2, "links of " + spec);
    }

    /**
     * Runs every rank of {@code spec} (each replica's stage 0 on its share of each mini-batch) for the given steps
     * over in-process channels; per rank, the ranks it sent to or received from.
     */
    private static List<Set<Integer>> talked(PipelineSpec spec, List<DataSet> data) throws Exception {
        Topology t = spec.topology();
        List<Set<Integer>> talked = new ArrayList<>();
        List<InProcessChannel> hub = InProcessChannel.connect(t.ranks(), Duration.ofSeconds(30));
        List<CompletableFuture<Void>> ranks = new ArrayList<>();
        for (int r = 0; r < t.ranks(); r++) {
            Set<Integer> peers = ConcurrentHashMap.newKeySet();
            talked.add(peers);
            TensorChannel recording = new Recording(hub.get(r), peers);
            int rank = r;
            ranks.add(CompletableFuture.runAsync(() -> {
                StageWorker w = new StageWorker(spec, rank, recording, null);
                for (int step = 0; step < data.size(); step++) {
                    w.runStep(step, t.readsData(rank)
                            ? InProcessPipeline.share(data.get(step), t.replica(rank), t.replicas()) : null);
                }
            }));
        }
        try {
            for (CompletableFuture<Void> f : ranks) {
                f.get(120, TimeUnit.SECONDS);
            }
        } finally {
            hub.get(0).closeAll();
        }
        return talked;
    }

    /** Dense layers 8-4-...-4-3, one per stage. */
    private static MultiLayerConfiguration mlp(int layers) {
        NeuralNetConfiguration.ListBuilder b = new NeuralNetConfiguration.Builder().seed(TestModels.SEED)
                .dataType(DataType.FLOAT).updater(new Sgd(0.1)).l2(1e-3).activation(Activation.TANH).list();
        for (int i = 0; i < layers - 1; i++) {
            b.layer(new DenseLayer.Builder().nOut(4).build());
        }
        b.layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX).nOut(3).build());
        return b.setInputType(InputType.feedForward(8)).build();
    }

    /** Records the peer of every send and receive. */
    private static final class Recording extends ForwardingChannel {
        private final Set<Integer> peers;

        Recording(TensorChannel inner, Set<Integer> peers) {
            super(inner);
            this.peers = peers;
        }

        @Override
        public void send(int peerRank, TensorKey key, INDArray tensor) {
            peers.add(peerRank);
            inner.send(peerRank, key, tensor);
        }

        @Override
        public INDArray receive(int peerRank, TensorKey key) {
            peers.add(peerRank);
            return inner.receive(peerRank, key);
        }

        @Override
        public INDArray receive(int peerRank, TensorKey key, long timeoutMillis) {
            peers.add(peerRank);
            return inner.receive(peerRank, key, timeoutMillis);
        }
    }
}
