package io.sparkmp.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.BiFunction;

import io.sparkmp.model.ModelAssembler;
import io.sparkmp.model.TestModels;
import io.sparkmp.model.TestModels.Opt;
import io.sparkmp.schedule.ScheduleKind;
import io.sparkmp.transport.ForwardingChannel;
import io.sparkmp.transport.FrameType;
import io.sparkmp.transport.TensorChannel;
import io.sparkmp.transport.TensorKey;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

/**
 * {@link NonFinitePolicy#SKIP}: a step with a non-finite gradient on any stage is left out on every stage, and
 * the run then equals a run without that mini-batch (parameters, updater state, iteration count, dropout).
 */
class NonFiniteSkipTest {

    private static final double DOUBLE_BOUND = 1e-12;

    /** Every rank's metrics, the final parameters and updater state, and each rank's skipped count. */
    private record Run(List<StepMetrics> metrics, Map<Integer, INDArray> params, Map<Integer, INDArray> state,
                       List<Long> skipped, List<String> reasons) {
    }

    /**
     * Runs {@code spec} with the skip policy over in-process channels; {@code wrap} may replace a rank's
     * channel (to corrupt what it receives).
     */
    private static Run run(PipelineSpec spec, List<DataSet> data, int epochs,
                           BiFunction<Integer, TensorChannel, TensorChannel> wrap) {
        int p = spec.devices();
        List<InProcessChannel> channels = InProcessChannel.connect(p, Duration.ofSeconds(30));
        List<StepMetrics> metrics = Collections.synchronizedList(new ArrayList<>());
        Map<Integer, INDArray> params = Collections.synchronizedMap(new TreeMap<>());
        Map<Integer, INDArray> state = Collections.synchronizedMap(new TreeMap<>());
        Long[] skipped = new Long[p];
        String[] reasons = new String[p];
        RankThreads.run("skip-test-rank-", p, rank -> {
            StageWorker w = new StageWorker(spec, rank, wrap.apply(rank, channels.get(rank)), null, null,
                    NonFinitePolicy.SKIP);
            long step = 0;
            for (int e = 0; e < epochs; e++) {
                for (DataSet ds : data) {
                    metrics.add(w.runStep(step++, e, rank == 0 ? ds : null));
                }
            }
            params.putAll(w.layerParameters());
            state.putAll(w.updaterState());
            skipped[rank] = w.skippedSteps();
            reasons[rank] = w.lastSkipReason();
        }, rank -> { }, () -> channels.get(0).closeAll(), "the test's ranks");
        return new Run(List.copyOf(metrics), Map.copyOf(params), Map.copyOf(state), List.of(skipped), List.of(reasons));
    }

    private static List<DataSet> without(List<DataSet> data, int index) {
        List<DataSet> out = new ArrayList<>(data);
        out.remove(index);
        return out;
    }

    /** Replaces mini-batch {@code index} by a copy with a NaN feature at ({@code row}, {@code col}). */
    private static void putNaN(List<DataSet> data, int index, int row, int col) {
        DataSet bad = data.get(index).copy();
        bad.getFeatures().putScalar(row, col, Double.NaN);
        data.set(index, bad);
    }

    private static void assertSkipped(Run r, long... steps) {
        List<Long> expected = new ArrayList<>();
        for (long s : steps) {
            expected.add(s);
        }
        List<Long> actual = r.metrics().stream().filter(StepMetrics::skipped).map(StepMetrics::step).distinct().sorted()
                .toList();
        assertEquals(expected, actual, "skipped steps");
        for (StepMetrics m : r.metrics()) {
            // a step is skipped on every rank or on none
            long ranksSkipping = r.metrics().stream().filter(o -> o.step() == m.step() && o.skipped()).count();
            assertTrue(ranksSkipping == 0 || ranksSkipping == r.skipped().size(), "step " + m.step()
                    + " skipped on " + ranksSkipping + " ranks");
        }
    }

    @Test
    void aNaNInTheDataSkipsThatStepOnEveryStageAndTheRunEqualsDl4jWithoutTheBatch() {
        MultiLayerConfiguration conf = TestModels.mlp(DataType.DOUBLE, Opt.ADAM, 0);
        PipelineSpec spec = PipelineSpec.of(conf, new int[] {0, 1, 3, 4}, ScheduleKind.ONE_F_ONE_B, 3, 1, 4, 16,
                TestModels.SEED);
        List<DataSet> data = TestModels.data("mlp", DataType.DOUBLE, 5, 16, 7);
        List<DataSet> clean = without(data, 2);
        putNaN(data, 2, 5, 0);

        Run r = run(spec, data, 2, (rank, c) -> c);

        assertSkipped(r, 2, 7); // the bad mini-batch in each of the two epochs
        assertEquals(List.of(2L, 2L, 2L), r.skipped());
        assertTrue(r.reasons().get(1).startsWith("step 7 skipped on every stage: non-finite gradient (NaN or infinity) "
                + "on stage 0, first in layer 0 (DenseLayer)"), r.reasons().get(1));
        // DL4J's fit over the data without that mini-batch: Adam's moments and bias correction (iteration count)
        // see exactly 8 updates.
        MultiLayerNetwork ref = TestModels.referenceFit(conf, clean, 2, null);
        assertEquals(8, ref.getIterationCount());
        double err = TestModels.maxRelativeError(r.params(), ModelAssembler.split(ref));
        assertTrue(err <= DOUBLE_BOUND, "max relative parameter error " + err);
        InProcessPipeline.Result cleanRun = new InProcessPipeline(spec).fit(clean, 2);
        assertTrue(TestModels.maxRelativeError(r.state(), cleanRun.updaterState()) <= DOUBLE_BOUND, "updater state");
    }

    @Test
    void withOneMicroBatchTheSkipPolicyTurnsTheFusedUpdateOffAndStillEqualsDl4jWithoutTheBatch() {
        MultiLayerConfiguration conf = TestModels.mlp(DataType.DOUBLE, Opt.ADAM, 0);
        PipelineSpec spec = PipelineSpec.of(conf, new int[] {0, 2, 4}, ScheduleKind.ONE_F_ONE_B, 2, 1, 1, 16,
                TestModels.SEED);
        assertTrue(spec.fusesUpdate(), "one micro-batch: the default worker fuses each layer's update into the backward");
        List<DataSet> data = TestModels.data("mlp", DataType.DOUBLE, 4, 16, 5);
        List<DataSet> clean = without(data, 1);
        putNaN(data, 1, 3, 2);

        Run r = run(spec, data, 1, (rank, c) -> c);

        assertSkipped(r, 1);
        double err = TestModels.maxRelativeError(r.params(), ModelAssembler.split(TestModels.referenceFit(conf, clean, 1,
                null)));
        assertTrue(err <= DOUBLE_BOUND, "max relative parameter error " + err);
        StageWorker fused = new StageWorker(spec, 0, InProcessChannel.connect(2, Duration.ofSeconds(1)).get(0), null);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> fused.nonFinite(NonFinitePolicy.SKIP));
        assertEquals("stage 0 fuses its update into the backward; build the worker with NonFinitePolicy.SKIP to skip "
                + "steps", e.getMessage());
    }

    @Test
    void aNonFiniteGradientOnOneStageOnlySkipsTheStepOnEveryStage() {
        // Dropout everywhere: the masks depend on DL4J's iteration count, which the skipped step must not advance.
        MultiLayerConfiguration conf = TestModels.mlpWithDropout(DataType.DOUBLE, Opt.ADAM);
        PipelineSpec spec = PipelineSpec.of(conf, new int[] {0, 2, 5}, ScheduleKind.ONE_F_ONE_B, 2, 1, 4, 16,
                TestModels.SEED);
        List<DataSet> data = TestModels.data("mlp", DataType.DOUBLE, 4, 16, 11);
        // Rank 0 receives an infinite gradient from rank 1 in step 1, micro-batch 2: only stage 0's gradient is
        // non-finite, stage 1's is fine, and stage 1 must still leave the update out.
        Run r = run(spec, data, 1, (rank, c) -> rank == 0 ? new Corrupting(c, 1, 2) : c);

        assertSkipped(r, 1);
        assertEquals(List.of(1L, 1L), r.skipped());
        assertNotNull(r.reasons().get(1));
        assertTrue(r.reasons().get(1).contains("on stage 0, first in layer 0 (DenseLayer)"), r.reasons().get(1));

        InProcessPipeline.Result cleanRun = new InProcessPipeline(spec).fit(without(data, 1), 1);
        assertEquals(0.0, TestModels.maxRelativeError(r.params(), cleanRun.parameters()), "parameters, bitwise");
        assertEquals(0.0, TestModels.maxRelativeError(r.state(), cleanRun.updaterState()), "updater state, bitwise");
    }

    @Test
    void theFailPolicyStillStopsTraining() {
        MultiLayerConfiguration conf = TestModels.mlp(DataType.DOUBLE, Opt.ADAM, 0);
        PipelineSpec spec = PipelineSpec.of(conf, new int[] {0, 2, 4}, ScheduleKind.ONE_F_ONE_B, 2, 1, 4, 16,
                TestModels.SEED);
        List<DataSet> data = TestModels.data("mlp", DataType.DOUBLE, 3, 16, 1);
        data.get(1).getFeatures().putScalar(0, 0, Double.POSITIVE_INFINITY);
        Throwable e = assertThrows(RuntimeException.class, () -> new InProcessPipeline(spec).fit(data, 1));
        String all = e.getMessage() + (e.getCause() == null ? "" : " / " + e.getCause().getMessage());
        assertTrue(all.contains("non-finite gradient (NaN or infinity) at step 1 on stage "), all);
        assertTrue(all.contains("set spark.mp.nonFinite=skip"), all);
    }

    @Test
    void policiesParseAndNameTheChoices() {
        assertEquals(NonFinitePolicy.SKIP, NonFinitePolicy.parse(" Skip"));
        assertEquals(NonFinitePolicy.FAIL, NonFinitePolicy.parse("fail"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> NonFinitePolicy.parse("ignore"));
        assertEquals("nonFinite must be fail or skip, found `ignore`", e.getMessage());
        assertFalse(NonFinitePolicy.FAIL.label().isEmpty());
    }

    /** A channel that puts an infinity into the gradient of one micro-batch of one step it receives. */
    private static final class Corrupting extends ForwardingChannel {
        private final long step;
        private final int microBatch;

        Corrupting(TensorChannel inner, long step, int microBatch) {
            super(inner);
            this.step = step;
            this.microBatch = microBatch;
        }

        @Override
        public INDArray receive(int peerRank, TensorKey key) {
            INDArray t = inner.receive(peerRank, key);
            if (key.type() == FrameType.GRADIENT && key.step() == step && key.microBatch() == microBatch) {
                t = t.dup();
                t.putScalar(0, 0, Double.POSITIVE_INFINITY);
            }
            return t;
        }
    }
}
