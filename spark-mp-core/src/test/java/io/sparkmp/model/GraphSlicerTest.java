package io.sparkmp.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.junit.jupiter.api.Test;

/** What each stage of a sliced graph holds, receives and sends, written out by hand for the fixtures. */
class GraphSlicerTest {

    @Test
    void residualSkipIsRelayedThroughEveryStageItSpans() {
        List<GraphStageSpan> s = GraphSlicer.slice(GraphModels.residualCnn(), new int[] {0, 1, 2, 3, 7});
        assertEquals(List.of("conv0"), s.get(0).vertices());
        assertEquals(List.of("in"), s.get(0).entering());
        assertEquals(List.of(), s.get(0).received());
        assertEquals(List.of("conv0"), s.get(0).sent());
        // conv1's stage relays conv0 (read again by add, two stages later)
        assertEquals(List.of("conv0"), s.get(1).received());
        assertEquals(List.of("conv0", "conv1"), s.get(1).sent());
        assertEquals(List.of("conv0", "conv1"), s.get(2).received());
        assertEquals(List.of("conv0", "conv2"), s.get(2).sent());
        assertEquals(List.of("add", "pool", "dense", "out"), s.get(3).vertices());
        assertEquals(List.of("conv0", "conv2"), s.get(3).received());
        assertEquals(List.of(), s.get(3).sent());
        assertEquals(List.of("out"), s.get(3).outputs());
        assertEquals(List.of("conv0", "conv2"), s.get(3).receivedWithGradient());
    }

    @Test
    void secondInputEntersAtItsFirstConsumerAndEachOutputSitsWithItsVertex() {
        List<GraphStageSpan> s = GraphSlicer.slice(GraphModels.twoInTwoOut(), new int[] {0, 1, 6, 11});
        assertEquals(List.of("da"), s.get(0).vertices());
        assertEquals(List.of("a"), s.get(0).entering());
        assertEquals(List.of("da"), s.get(0).sent());
        assertEquals(List.of("db", "m", "dist", "h", "outA"), s.get(1).vertices());
        assertEquals(List.of("b"), s.get(1).entering());
        assertEquals(List.of("da"), s.get(1).received());
        assertEquals(List.of("db", "dist", "h"), s.get(1).sent()); // dist is read by both, in stage 2
        assertEquals(List.of("outA"), s.get(1).outputs());
        assertEquals(List.of("db", "dist", "h"), s.get(2).received());
        assertEquals(List.of("outB"), s.get(2).outputs());
        assertEquals(List.of(), s.get(2).entering());
    }

    @Test
    void aGraphInputNamedByAVertexTravelsToItWithoutGradient() {
        // order: lstm | last, part | dense, dup | merge, lstm2, out; dup reads seq's length, last its mask
        List<GraphStageSpan> s = GraphSlicer.slice(GraphModels.sequence(), new int[] {0, 1, 3, 5, 8});
        assertEquals(List.of("seq", "lstm"), s.get(0).sent());
        assertEquals(List.of("seq", "lstm"), s.get(1).received());
        assertEquals(List.of("lstm"), s.get(1).receivedWithGradient());
        assertEquals(List.of("seq", "last", "part"), s.get(1).sent());
        assertEquals(List.of("last", "part"), s.get(1).sentWithGradient());
        assertEquals(List.of("seq", "last", "part"), s.get(2).received());
        assertEquals(List.of("part", "dup"), s.get(2).sent());
        assertEquals(List.of("part", "dup"), s.get(3).received());
    }

    @Test
    void everyCutIsSentByOneStageAndReceivedByTheNext() {
        for (String name : GraphModels.NAMES) {
            ComputationGraphConfiguration conf = GraphModels.of(name);
            int n = GraphSlicer.order(conf).size();
            for (int a = 1; a < n; a++) {
                for (int b = a + 1; b < n; b++) {
                    List<GraphStageSpan> s = GraphSlicer.slice(conf, new int[] {0, a, b, n});
                    assertEquals(s.get(0).sent(), s.get(1).received(), name + " cut at " + a);
                    assertEquals(GraphSlicer.cuts(conf).get(a), s.get(1).received(), name + ": cuts() at " + a);
                    assertEquals(s.get(1).sent(), s.get(2).received(), name + " cut at " + b);
                    assertEquals(List.of(), s.get(2).sent());
                    assertEquals(List.of(), s.get(0).received());
                    int entering = s.stream().mapToInt(x -> x.entering().size()).sum();
                    assertEquals(conf.getNetworkInputs().size(), entering, name + ": every input enters once");
                    int outputs = s.stream().mapToInt(x -> x.outputs().size()).sum();
                    assertEquals(conf.getNetworkOutputs().size(), outputs, name + ": every output sits in one stage");
                }
            }
        }
    }

    @Test
    void badBoundariesNameTheEntry() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> GraphSlicer.slice(GraphModels.residualCnn(), new int[] {0, 3, 3, 7}));
        assertTrue(e.getMessage().contains("stage 1 is empty"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> GraphSlicer.slice(GraphModels.residualCnn(), new int[] {0, 3, 6}));
        assertTrue(e.getMessage().contains("must end at the layer count (7)"), e.getMessage());
    }
}
