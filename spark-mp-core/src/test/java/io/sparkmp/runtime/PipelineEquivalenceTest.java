package io.sparkmp.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

import io.sparkmp.model.ModelAssembler;
import io.sparkmp.model.TestModels;
import io.sparkmp.model.TestModels.Opt;
import io.sparkmp.schedule.ScheduleKind;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

/**
 * The heart: pipelined training equals DL4J's own {@code fit} on the same mini-batches from the same
 * initial weights, for an MLP, a CNN and an LSTM (with masks), every pipeline depth the model allows,
 * M in {1, 2, 4, 8}, GPipe, 1F1B and interleaved 1F1B (v = 2 where the layers suffice and M % P == 0).
 *
 * <p>Matrix: every (model, P, M, schedule) runs in DOUBLE with one optimizer, alternating Adam and
 * Nesterovs (both with L2) along the table so that each optimizer meets every P and every schedule; a
 * FLOAT pass covers M = 4 for every (model, P, schedule). 5 optimizer steps (6 for the LSTM over 2
 * epochs) each. Half of the cases keep the activations of micro-batches in flight (stash), half recompute
 * them, alternating so that both modes meet every model, optimizer, depth and schedule.
 */
class PipelineEquivalenceTest {

    static final double DOUBLE_BOUND = 1e-9;
    static final double FLOAT_BOUND = 1e-4;
    private static final Map<String, Double> WORST = new ConcurrentHashMap<>();

    record Case(String model, DataType type, Opt opt, ScheduleKind kind, int devices, int v, int microBatches, int[] boundaries,
                boolean stash) {
        @Override
        public String toString() {
            return model + " " + type + " " + opt + " " + kind.label() + " P=" + devices + " v=" + v + " M=" + microBatches
                    + " cuts=" + java.util.Arrays.toString(boundaries) + (stash ? " stash" : " recompute");
        }
    }

    static Stream<Arguments> cases() {
        List<Case> out = new ArrayList<>();
        // Boundaries per pipeline depth (stages = P * v).
        Map<String, Map<Integer, int[]>> cuts = Map.of(
                "mlp", Map.of(1, new int[] {0, 4}, 2, new int[] {0, 2, 4}, 3, new int[] {0, 1, 2, 4}, 4, new int[] {0, 1, 2, 3, 4}),
                "cnn", Map.of(1, new int[] {0, 4}, 2, new int[] {0, 2, 4}, 3, new int[] {0, 1, 2, 4}, 4, new int[] {0, 1, 2, 3, 4}),
                "lstm", Map.of(1, new int[] {0, 3}, 2, new int[] {0, 1, 3}, 3, new int[] {0, 1, 2, 3}));
        int k = 0;
        for (String model : List.of("mlp", "cnn", "lstm")) {
            int layers = model.equals("lstm") ? 3 : 4;
            for (DataType type : List.of(DataType.DOUBLE, DataType.FLOAT)) {
                for (int p = 1; p <= layers; p++) {
                    for (int m : new int[] {1, 2, 4, 8}) {
                        if (type == DataType.FLOAT && m != 4) {
                            continue;
                        }
                        for (ScheduleKind kind : ScheduleKind.values()) {
                            int v = kind == ScheduleKind.INTERLEAVED_1F1B ? 2 : 1;
                            if (p * v > layers || (v > 1 && m % p != 0)) {
                                continue;
                            }
                            // Optimizer and activation mode alternate with different periods: every pairing occurs.
                            Opt opt = (k % 2 == 0) ? Opt.ADAM : Opt.NESTEROVS;
                            boolean stash = (k++ / 2) % 2 == 0;
                            out.add(new Case(model, type, opt, kind, p, v, m, cuts.get(model).get(p * v), stash));
                        }
                    }
                }
            }
        }
        return out.stream().map(Arguments::of);
    }

    static MultiLayerConfiguration model(String name, DataType type, Opt opt) {
        return switch (name) {
            case "mlp" -> TestModels.mlp(type, opt, 0);
            case "cnn" -> TestModels.cnn(type, opt, false);
            case "lstm" -> TestModels.lstm(type, opt);
            default -> throw new IllegalArgumentException(name);
        };
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void pipelineEqualsDl4jFit(Case c) {
        MultiLayerConfiguration conf = model(c.model(), c.type(), c.opt());
        int epochs = c.model().equals("lstm") ? 2 : 1;
        int batches = c.model().equals("lstm") ? 3 : 5;
        List<DataSet> data = TestModels.data(c.model(), c.type(), batches, 16, 99);
        PipelineSpec spec = PipelineSpec.of(conf, c.boundaries(), c.kind(), c.devices(), c.v(), c.microBatches(), 16,
                TestModels.SEED);
        if (c.stash()) {
            spec = spec.withRecompute(new boolean[spec.numStages()]);
        }

        InProcessPipeline.Result result = new InProcessPipeline(spec).fit(data, epochs);

        List<Double> scores = new ArrayList<>();
        MultiLayerNetwork ref = TestModels.referenceFit(conf, data, epochs, scores);
        double err = TestModels.maxRelativeError(result.parameters(), ModelAssembler.split(ref));
        WORST.merge(c.model() + " " + c.type(), err, Math::max);
        double bound = c.type() == DataType.DOUBLE ? DOUBLE_BOUND : FLOAT_BOUND;
        assertTrue(err <= bound, c + ": max relative parameter error " + err + " > " + bound);
        List<Double> losses = result.losses();
        assertEquals(scores.size(), losses.size());
        for (int i = 0; i < scores.size(); i++) {
            assertEquals(scores.get(i), losses.get(i), bound * 10 * Math.abs(scores.get(i)), c + ": loss of step " + i);
        }
        // Parameters changed: the comparison is not between two untouched initialisations.
        double moved = TestModels.maxRelativeError(result.parameters(),
                io.sparkmp.model.LayerParameters.initial(conf, TestModels.SEED));
        assertTrue(moved > 1e-4, c + ": parameters barely moved (" + moved + ")");
    }

    @Test
    void startsFromGivenWeights() {
        // --init-from: weights of a DL4J network (here: trained 2 steps elsewhere), fresh updater on both sides.
        MultiLayerConfiguration conf = model("mlp", DataType.DOUBLE, Opt.NESTEROVS);
        List<DataSet> data = TestModels.data("mlp", DataType.DOUBLE, 5, 16, 42);
        Map<Integer, INDArray> start = ModelAssembler.split(TestModels.referenceFit(conf, data.subList(0, 2), 1, null));
        InProcessPipeline.Result r = new InProcessPipeline(PipelineSpec.of(conf, new int[] {0, 1, 4}, ScheduleKind.GPIPE, 2, 1,
                4, 16, TestModels.SEED), start, InProcessPipeline.DEFAULT_RECEIVE_TIMEOUT).fit(data.subList(2, 5), 1);
        MultiLayerNetwork ref = ModelAssembler.assemble(conf, start);
        for (DataSet ds : data.subList(2, 5)) {
            ref.fit(ds);
        }
        double err = TestModels.maxRelativeError(r.parameters(), ModelAssembler.split(ref));
        assertTrue(err <= DOUBLE_BOUND, "max relative error " + err);
        // and the assembled result continues like the reference (updater state and iteration count carried)
        MultiLayerNetwork cont = r.toNetwork();
        DataSet more = TestModels.data("mlp", DataType.DOUBLE, 1, 16, 43).get(0);
        cont.fit(more);
        ref.fit(more);
        assertTrue(TestModels.maxRelativeError(ModelAssembler.split(cont), ModelAssembler.split(ref)) <= DOUBLE_BOUND);
    }

    @AfterAll
    static void report() {
        System.out.println("max relative parameter error vs DL4J fit: " + new TreeMap<>(WORST));
    }
}
