package io.sparkmp.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import io.sparkmp.model.TestModels;
import io.sparkmp.model.TestModels.Opt;
import io.sparkmp.schedule.ScheduleKind;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

/**
 * Memory per micro-batch, end to end: rank 0 reads its mini-batch one micro-batch at a time (each row range
 * once, never the whole mini-batch), and every stage holds only its micro-batches in flight for the backward
 * (1F1B: P - s on stage s; GPipe: all M), with the activation stash and with recomputation.
 */
class MicroBatchStreamingTest {

    /** A mini-batch that records every read: (array, from, count). */
    private static final class RecordingBatch implements MiniBatch {
        private final MiniBatch inner;
        final List<String> reads = Collections.synchronizedList(new ArrayList<>());

        RecordingBatch(DataSet ds) {
            inner = MiniBatch.of(ds);
        }

        @Override
        public int examples() {
            return inner.examples();
        }

        @Override
        public boolean hasFeaturesMask() {
            return false;
        }

        @Override
        public boolean hasLabelsMask() {
            return false;
        }

        @Override
        public INDArray features(int from, int count) {
            reads.add("x " + from + " " + count);
            return inner.features(from, count);
        }

        @Override
        public INDArray labels(int from, int count) {
            reads.add("y " + from + " " + count);
            return inner.labels(from, count);
        }

        @Override
        public INDArray featuresMask(int from, int count) {
            throw new AssertionError("no features mask");
        }

        @Override
        public INDArray labelsMask(int from, int count) {
            throw new AssertionError("no labels mask");
        }
    }

    @ParameterizedTest(name = "{0} stash={1}")
    @CsvSource({"1f1b, true", "1f1b, false", "gpipe, true"})
    void stagesHoldOnlyTheirMicroBatchesInFlightAndRankZeroReadsEachOnce(String schedule, boolean stash)
            throws Exception {
        int p = 4;
        int m = 8;
        int batch = 16;
        MultiLayerConfiguration conf = TestModels.mlp(DataType.DOUBLE, Opt.ADAM, 0);
        ScheduleKind kind = ScheduleKind.parse(schedule);
        PipelineSpec spec = PipelineSpec.of(conf, new int[] {0, 1, 2, 3, 4}, kind, p, 1, m, batch, TestModels.SEED);
        if (stash) {
            spec = spec.withRecompute(new boolean[p]);
        }
        List<DataSet> data = TestModels.data("mlp", DataType.DOUBLE, 2, batch, 7);
        List<RecordingBatch> batches = new ArrayList<>();
        data.forEach(ds -> batches.add(new RecordingBatch(ds)));

        List<InProcessChannel> channels = InProcessChannel.connect(p, Duration.ofSeconds(60));
        Map<Integer, Integer> peak = new ConcurrentHashMap<>();
        Map<Integer, Throwable> failures = new ConcurrentHashMap<>();
        List<Thread> threads = new ArrayList<>();
        PipelineSpec s = spec;
        for (int r = 0; r < p; r++) {
            int rank = r;
            Thread t = new Thread(() -> {
                try (InProcessChannel ch = channels.get(rank)) {
                    StageWorker w = new StageWorker(s, rank, ch, null);
                    for (int step = 0; step < batches.size(); step++) {
                        w.runStep(step, 0, rank == 0 ? batches.get(step) : null);
                    }
                    peak.put(rank, w.peakHeldMicroBatches(rank));
                } catch (Throwable e) {
                    failures.put(rank, e);
                    channels.get(0).closeAll();
                }
            });
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            t.join(120_000);
        }
        assertEquals(Map.of(), failures);
        for (int stage = 0; stage < p; stage++) {
            int expected = kind == ScheduleKind.GPIPE ? m : p - stage;
            assertEquals(expected, peak.get(stage), "micro-batches held at once by stage " + stage);
        }
        int size = batch / m;
        for (RecordingBatch b : batches) {
            List<String> expected = new ArrayList<>();
            for (int mb = 0; mb < m; mb++) {
                expected.add("x " + mb * size + " " + size);
                expected.add("y " + mb * size + " " + size);
            }
            assertEquals(expected, b.reads, "rank 0 reads each micro-batch once, in order, and nothing else");
        }
    }
}
