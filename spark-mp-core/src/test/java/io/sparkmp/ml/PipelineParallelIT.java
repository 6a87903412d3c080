package io.sparkmp.ml;

import io.sparkmp.spark.testing.SparkStandaloneCluster;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.Transformer;
import org.apache.spark.ml.evaluation.MulticlassClassificationEvaluator;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The ML API on a real multi-JVM standalone cluster (2 one-core workers: each stage in its own executor JVM): a
 * Pipeline read from CSV fits on two stages, transforms pipelined across the two executors and per partition to
 * the same predictions, evaluates, and a saved PipelineModel loads and predicts the same.
 */
class PipelineParallelIT {

    @RegisterExtension
    static final SparkStandaloneCluster CLUSTER = SparkStandaloneCluster.withWorkers(2)
            .conf("spark.mp.slotWaitTimeout", "5s")
            .conf("spark.mp.transport.connectTimeout", "10s")
            .conf("spark.mp.transport.ioTimeout", "30s")
            .conf("spark.mp.plan.profile", "analytic")
            .conf("spark.mp.logEvery", "0");

    @TempDir
    static Path dir;

    @Test
    void pipelineFitsTransformsPipelinedAndLocallyEvaluatesAndRoundTrips() throws Exception {
        Dataset<Row> train = MlFixtures.readCsv(CLUSTER.session(), MlFixtures.writeCsv(dir, 160, 1));
        Dataset<Row> test = MlFixtures.readCsv(CLUSTER.session(), MlFixtures.writeCsv(dir, 60, 2)).repartition(3);
        PipelineModel fitted = MlFixtures.pipeline(MlFixtures.estimator()).fit(train);
        PipelineParallelModel model = (PipelineParallelModel) fitted.stages()[2];
        assertEquals(2, model.devices());

        Dataset<Row> features = ((Transformer) fitted.stages()[1]).transform(((Transformer) fitted.stages()[0])
                .transform(test));
        Dataset<Row> local = model.copy(ParamMap.empty()).setTransformMode("local").transform(features);
        Dataset<Row> pipelined = model.copy(ParamMap.empty()).setTransformMode("pipelined").setTransformBatchSize(7)
                .transform(features);
        List<double[]> expected = PipelineParallelEstimatorTest.rowsByFeatures(local);
        assertEquals(60, expected.size());
        PipelineParallelEstimatorTest.assertEqualRows(expected, PipelineParallelEstimatorTest.rowsByFeatures(pipelined));

        double accuracy = new MulticlassClassificationEvaluator().setMetricName("accuracy").evaluate(pipelined);
        assertTrue(accuracy > 0.85, "accuracy " + accuracy);

        String path = dir.resolve("pipeline").toUri().toString();
        fitted.write().overwrite().save(path);
        PipelineModel loaded = PipelineModel.load(path);
        PipelineParallelEstimatorTest.assertEqualRows(expected,
                PipelineParallelEstimatorTest.rowsByFeatures(loaded.transform(test)));
    }
}
