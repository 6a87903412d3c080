package io.sparkmp.runtime;

import static io.sparkmp.runtime.GraphEquivalenceTest.assertParamsEqual;
import static io.sparkmp.runtime.GraphEquivalenceTest.evenBoundaries;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import io.sparkmp.model.GraphModels;
import io.sparkmp.model.GraphSlicer;
import io.sparkmp.schedule.ScheduleKind;
import io.sparkmp.transport.SocketTensorChannel;
import io.sparkmp.transport.TransportConfig;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.dataset.api.MultiDataSet;

/**
 * Graph stages over real sockets (loopback, authenticated links, Kryo-framed tensors, a key per tensor): the
 * residual CNN's skip and the two-output model's several tensors per cut cross TCP, and training equals fit.
 */
class GraphSocketTest {

    private static GraphPipeline.Result overSockets(ComputationGraphConfiguration conf, int devices, ScheduleKind kind,
                                                    int m, int v, List<MultiDataSet> data) {
        TransportConfig config = TransportConfig.builder("graph-socket-test", TransportConfig.newSecret())
                .bindHost("127.0.0.1").receiveTimeout(Duration.ofSeconds(30)).build();
        List<SocketTensorChannel> channels = new ArrayList<>();
        try {
            for (int r = 0; r < devices; r++) {
                channels.add(SocketTensorChannel.open(config, r));
            }
            Map<Integer, InetSocketAddress> addresses = new HashMap<>();
            for (int r = 0; r < devices; r++) {
                addresses.put(r, channels.get(r).localAddress());
            }
            int[] b = evenBoundaries(GraphSlicer.order(conf).size(), devices * v);
            GraphPipeline p = new GraphPipeline(new GraphPipeline.Spec(conf, b, kind, devices, m, v, GraphModels.SEED),
                    null);
            return p.fitOnChannels(channels, rank -> {
                Map<Integer, InetSocketAddress> peers = new HashMap<>(addresses);
                peers.remove(rank);
                channels.get(rank).connect(peers);
            }, data, 1);
        } finally {
            channels.forEach(SocketTensorChannel::close);
        }
    }

    @Test
    void residualSkipAndTwoOutputsOverSocketsEqualFit() {
        for (String model : List.of("residual", "twoInTwoOut")) {
            ComputationGraphConfiguration conf = GraphModels.of(model);
            List<MultiDataSet> data = GraphModels.data(model, 3, 8, 13);
            GraphModels.Reference ref = GraphModels.referenceFit(conf, data, 1, GraphModels.SEED);
            GraphPipeline.Result one = overSockets(conf, 3, ScheduleKind.ONE_F_ONE_B, 1, 1, data);
            assertParamsEqual(ref.graph(), one.parameters(), 0.0);
            GraphPipeline.Result interleaved = overSockets(conf, 2, ScheduleKind.INTERLEAVED_1F1B, 4, 2, data);
            assertParamsEqual(ref.graph(), interleaved.parameters(), 1e-9);
            for (int i = 0; i < 3; i++) {
                assertEquals(ref.scores().get(i), interleaved.losses().get(i), 1e-12 * Math.abs(ref.scores().get(i)));
            }
        }
    }
}
