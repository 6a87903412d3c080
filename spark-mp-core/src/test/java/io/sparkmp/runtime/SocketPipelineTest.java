package io.sparkmp.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import io.sparkmp.model.ModelAssembler;
import io.sparkmp.model.TestModels;
import io.sparkmp.schedule.ScheduleKind;
import io.sparkmp.transport.SocketTensorChannel;
import io.sparkmp.transport.TransportConfig;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

/**
 * The same stage workers over the real socket channel (loopback, authenticated): an interleaved
 * 2-rank pipeline of the LSTM model (masks, labels and the wrap-around from rank 1 back to rank 0 all
 * cross sockets) equals DL4J's fit.
 */
class SocketPipelineTest {

    /** Per-rank losses and the trained parameters of {@code spec} run by one StageWorker per rank over real sockets. */
    record SocketRun(Map<Integer, INDArray> parameters, List<List<Double>> losses) {
    }

    static SocketRun trainOverSockets(PipelineSpec spec, List<DataSet> data) throws Exception {
        int ranks = spec.devices();
        TransportConfig config = TransportConfig.builder("socket-pipeline-test", TransportConfig.newSecret())
                .bindHost("127.0.0.1").receiveTimeout(Duration.ofSeconds(30)).build();
        List<SocketTensorChannel> channels = new ArrayList<>();
        try {
            for (int r = 0; r < ranks; r++) {
                channels.add(SocketTensorChannel.open(config, r));
            }
            Map<Integer, InetSocketAddress> addresses = new HashMap<>();
            for (int r = 0; r < ranks; r++) {
                addresses.put(r, channels.get(r).localAddress());
            }
            List<CompletableFuture<Map<Integer, INDArray>>> futures = new ArrayList<>();
            List<List<Double>> losses = new ArrayList<>();
            for (int r = 0; r < ranks; r++) {
                final int rank = r;
                List<Double> mine = new ArrayList<>();
                losses.add(mine);
                futures.add(CompletableFuture.supplyAsync(() -> {
                    SocketTensorChannel ch = channels.get(rank);
                    Map<Integer, InetSocketAddress> peers = new HashMap<>(addresses);
                    peers.remove(rank);
                    ch.connect(peers);
                    StageWorker w = new StageWorker(spec, rank, ch, null);
                    for (int step = 0; step < data.size(); step++) {
                        StepMetrics m = w.runStep(step, rank == 0 ? data.get(step) : null);
                        if (m.hasLoss()) {
                            mine.add(m.loss());
                        }
                    }
                    return w.layerParameters();
                }));
            }
            long t0 = System.nanoTime();
            Map<Integer, INDArray> params = new TreeMap<>();
            for (CompletableFuture<Map<Integer, INDArray>> f : futures) {
                params.putAll(f.get(120, TimeUnit.SECONDS));
            }
            System.out.println("socket pipeline: " + data.size() + " steps in " + (System.nanoTime() - t0) / 1_000_000 + " ms");
            return new SocketRun(params, losses);
        } finally {
            long t1 = System.nanoTime();
            for (SocketTensorChannel c : channels) {
                c.close();
            }
            System.out.println("socket pipeline: close took " + (System.nanoTime() - t1) / 1_000_000 + " ms");
        }
    }

    @Test
    void stageWorkersOverSocketsEqualFit() throws Exception {
        MultiLayerConfiguration conf = TestModels.lstmDense(DataType.DOUBLE, TestModels.Opt.ADAM);
        PipelineSpec spec = PipelineSpec.of(conf, new int[] {0, 1, 2, 3, 4}, ScheduleKind.INTERLEAVED_1F1B, 2, 2, 4, 16,
                TestModels.SEED);
        List<DataSet> data = TestModels.data("lstm", DataType.DOUBLE, 4, 16, 21);
        SocketRun run = trainOverSockets(spec, data);
        List<Double> scores = new ArrayList<>();
        MultiLayerNetwork ref = TestModels.referenceFit(conf, data, 1, scores);
        double err = TestModels.maxRelativeError(run.parameters(), ModelAssembler.split(ref));
        System.out.println("interleaved LSTM over sockets vs fit: max relative error " + err);
        assertTrue(err <= PipelineEquivalenceTest.DOUBLE_BOUND, "max relative error " + err);
        // Rank 1 holds the last stage (3 = 1 + 2) and reports DL4J's score.
        assertEquals(0, run.losses().get(0).size());
        for (int i = 0; i < scores.size(); i++) {
            assertEquals(scores.get(i), run.losses().get(1).get(i), 1e-9 * Math.abs(scores.get(i)));
        }
    }

    /**
     * A few layer families of {@link io.sparkmp.model.LayerCases} across real sockets, the layer under test alone in
     * its stage (a cut on each side): self-attention and a bidirectional LSTM on masked sequences of different
     * lengths, an embedding, a 1-D convolution that shortens the sequence, a separable convolution.
     */
    @org.junit.jupiter.params.ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"SelfAttentionLayer", "Bidirectional (LSTM, concat)",
            "EmbeddingLayer", "Convolution1DLayer (truncate)", "SeparableConvolution2D"})
    void layerFamiliesOverSocketsEqualFit(String name) throws Exception {
        io.sparkmp.model.LayerCases.Case c = io.sparkmp.model.LayerCases.all().stream().filter(x -> x.name().equals(name))
                .findFirst().orElseThrow();
        MultiLayerConfiguration conf = c.build();
        int[] cuts = c.cutsAround();
        PipelineSpec spec = PipelineSpec.of(conf, cuts, ScheduleKind.ONE_F_ONE_B, cuts.length - 1, 1, 4, 16, TestModels.SEED);
        List<DataSet> data = io.sparkmp.model.LayerCases.data(c.data(), 5, 16, 77);
        SocketRun run = trainOverSockets(spec, data);
        MultiLayerNetwork ref = TestModels.referenceFit(conf, data, 1, null);
        double err = TestModels.maxRelativeError(run.parameters(), ModelAssembler.split(ref));
        System.out.println(name + " over sockets vs fit: max relative error " + err);
        assertTrue(err <= PipelineEquivalenceTest.DOUBLE_BOUND, name + ": max relative error " + err);
    }
}
