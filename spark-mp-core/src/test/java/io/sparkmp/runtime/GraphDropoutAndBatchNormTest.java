package io.sparkmp.runtime;

import static io.sparkmp.runtime.GraphEquivalenceTest.assertParamsEqual;
import static io.sparkmp.runtime.GraphEquivalenceTest.evenBoundaries;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;

import io.sparkmp.model.GraphModels;
import io.sparkmp.model.GraphSlicer;
import io.sparkmp.schedule.ScheduleKind;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;

/**
 * Dropout in a graph stage is keyed by example: every split and micro-batch count trains the same (DL4J's fit draws
 * from a global stream, so it is not the reference here). BatchNormalization uses per-micro-batch statistics: with
 * one micro-batch per step a graph pipeline equals fit bit for bit at every P.
 */
class GraphDropoutAndBatchNormTest {

    private static Map<String, INDArray> train(ComputationGraphConfiguration conf, List<MultiDataSet> data, int p,
                                               ScheduleKind kind, int m) {
        int[] b = evenBoundaries(GraphSlicer.order(conf).size(), p);
        return new GraphPipeline(new GraphPipeline.Spec(conf, b, kind, p, m, 1, GraphModels.SEED), null).fit(data, 1)
                .parameters();
    }

    private static double maxDifference(Map<String, INDArray> a, Map<String, INDArray> b) {
        double d = 0;
        for (String k : a.keySet()) {
            d = Math.max(d, a.get(k).sub(b.get(k)).amaxNumber().doubleValue());
        }
        return d;
    }

    @Test
    void dropoutTrainsTheSameAtEverySplitAndMicroBatchCount() {
        for (String model : List.of("twoInTwoOut", "residual")) {
            ComputationGraphConfiguration conf = GraphModels.withDropout(GraphModels.of(model), 0.7);
            List<MultiDataSet> data = GraphModels.data(model, 3, 8, 7);
            Map<String, INDArray> one = train(conf, data, 1, ScheduleKind.GPIPE, 1);
            Map<String, INDArray> plain = train(GraphModels.of(model), data, 1, ScheduleKind.GPIPE, 1);
            assertTrue(maxDifference(one, plain) > 1e-3, model + ": dropout changes training");
            for (int p = 2; p <= 4; p++) {
                for (int m : new int[] {1, 4}) {
                    Map<String, INDArray> split = train(conf, data, p, ScheduleKind.ONE_F_ONE_B, m);
                    double d = maxDifference(one, split);
                    // masks are identical; only the gradient sum's order differs with m > 1 (Adam, 3 steps)
                    assertTrue(m == 1 ? d == 0 : d <= 1e-9, model + " P=" + p + " M=" + m + ": difference " + d);
                }
            }
        }
    }

    @Test
    void batchNormWithOneMicroBatchEqualsFitAtEveryP() {
        ComputationGraphConfiguration conf = GraphModels.residualBatchNorm();
        List<MultiDataSet> data = GraphModels.data("residual", 3, 8, 5);
        GraphModels.Reference ref = GraphModels.referenceFit(conf, data, 1, GraphModels.SEED);
        for (int p = 1; p <= 4; p++) {
            int[] b = evenBoundaries(GraphSlicer.order(conf).size(), p);
            GraphPipeline.Result r = new GraphPipeline(new GraphPipeline.Spec(conf, b, ScheduleKind.ONE_F_ONE_B, p, 1, 1,
                    GraphModels.SEED), null).fit(data, 1);
            assertParamsEqual(ref.graph(), r.parameters(), 0.0);
        }
    }
}
