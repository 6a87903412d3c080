package io.sparkmp.bench;

import io.sparkmp.model.LayerParameters;
import io.sparkmp.model.ModelAssembler;
import io.sparkmp.runtime.InProcessPipeline;
import io.sparkmp.runtime.PipelineSpec;
import io.sparkmp.schedule.ScheduleKind;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The batch-capacity benchmark trains what DL4J's {@code fit} trains: its conv net on its generated images,
 * through the pipeline's micro-batches (P = 1 gradient accumulation, P = 2 1F1B) against {@code fit} on the
 * whole mini-batch, on a batch both can run.
 */
class BatchModelTest {

    private static final long SEED = 11;

    @ParameterizedTest(name = "{0} P={1} M={2}")
    @CsvSource({"DOUBLE, 1, 8, 1e-12", "DOUBLE, 2, 4, 1e-12", "FLOAT, 2, 8, 1e-4"})
    void pipelineTrainingEqualsFitOnTheWholeBatch(DataType type, int p, int m, double bound) {
        int side = 12;
        int batch = 16;
        MultiLayerConfiguration conf = BatchModel.conf(side, type);
        List<DataSet> data = List.of(BatchModel.examples(0, batch, side, type), BatchModel.examples(batch, batch, side, type));
        MultiLayerNetwork net = ModelAssembler.assemble(conf, LayerParameters.initial(conf, SEED));
        for (DataSet d : data) {
            net.fit(d);
        }
        int[] cuts = p == 1 ? new int[] {0, 3} : new int[] {0, 1, 3};
        PipelineSpec spec = PipelineSpec.of(conf, cuts, ScheduleKind.ONE_F_ONE_B, p, 1, m, batch, SEED);
        Map<Integer, INDArray> params = new InProcessPipeline(spec).fit(data, 1).parameters();
        double worst = 0;
        for (Map.Entry<Integer, INDArray> e : params.entrySet()) {
            INDArray expected = net.getLayer(e.getKey()).params();
            if (expected == null || expected.length() == 0) {
                assertEquals(0, e.getValue().length(), "layer " + e.getKey() + " has no parameters");
                continue;
            }
            INDArray a = e.getValue().castTo(DataType.DOUBLE).reshape(e.getValue().length());
            INDArray b = expected.castTo(DataType.DOUBLE).reshape(expected.length());
            worst = Math.max(worst, a.sub(b).amaxNumber().doubleValue() / b.amaxNumber().doubleValue());
        }
        assertTrue(worst <= bound, type + " P=" + p + " M=" + m + ": max relative error " + worst + " > " + bound);
        assertEquals(3, conf.getConfs().size());
    }

    @Test
    void activationsDominateParameters() {
        MultiLayerConfiguration conf = BatchModel.conf(24, DataType.FLOAT);
        long params = 0;
        for (int i = 0; i < conf.getConfs().size(); i++) {
            params += conf.getConf(i).getLayer().initializer().numParams(conf.getConf(i));
        }
        assertEquals(46_410, params); // as the class comment states
        // The conv layer's output of one example: 32 x 24 x 24 floats = 72 KiB; at a batch of 256 (18 MiB) it is
        // 100 times the parameters (181 KiB).
        assertTrue(256L * 32 * 24 * 24 * 4 > 100L * params * 4);
        DataSet d = BatchModel.examples(5, 3, 24, DataType.FLOAT);
        assertEquals(BatchModel.examples(6, 1, 24, DataType.FLOAT).getFeatures(), d.getFeatures().get(
                org.nd4j.linalg.indexing.NDArrayIndex.interval(1, 2)), "example 6 is the same in any chunking");
    }
}
