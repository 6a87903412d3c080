package io.sparkmp.store;

import io.sparkmp.model.GraphModels;
import io.sparkmp.spark.PipelineTrainer;
import io.sparkmp.spark.TrainingResult;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The per-layer store of a graph fit: {@code StoreExport} turns it into a ComputationGraph zip that DL4J's
 * {@code ComputationGraph.load} and {@code ModelSerializer} read, scoring and predicting exactly as the graph
 * assembled from the store; the store refuses to open as a MultiLayerNetwork.
 */
class GraphStoreExportTest {

    @Test
    void graphStoreExportsToAZipDl4jLoads(@TempDir Path dir) throws Exception {
        SparkSession spark = SparkSession.builder().master("local[2]").appName("GraphStoreExportTest")
                .config("spark.ui.enabled", "false").config("spark.mp.slotWaitTimeout", "1s").getOrCreate();
        try {
            ComputationGraphConfiguration conf = GraphModels.twoInTwoOut();
            List<MultiDataSet> batches = GraphModels.data("twoInTwoOut", 2, 8, 41);
            Path store = dir.resolve("store");
            TrainingResult r = PipelineTrainer.builder(conf).stages(2).microBatches(2).batchSize(8).seed(3)
                    .output(store.toUri()).build()
                    .fitMultiDataSet(JavaSparkContext.fromSparkContext(spark.sparkContext()).parallelize(batches, 1));
            ComputationGraph fromStore = r.graph();
            assertThrows(IllegalStateException.class, r::network);

            Path zip = dir.resolve("graph.zip");
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            int code = StoreExport.run(new String[] {store.toUri().toString(), zip.toString()},
                    new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
            assertEquals(0, code, err.toString(StandardCharsets.UTF_8));
            assertTrue(out.toString(StandardCharsets.UTF_8).contains("iteration 2"), out.toString(StandardCharsets.UTF_8));

            ComputationGraph loaded = ComputationGraph.load(zip.toFile(), true);
            ComputationGraph restored = ModelSerializer.restoreComputationGraph(zip.toFile(), true);
            MultiDataSet probe = batches.get(1);
            INDArray[] want = fromStore.output(probe.getFeatures());
            for (ComputationGraph g : List.of(loaded, restored)) {
                assertEquals(2, g.getIterationCount());
                assertEquals(fromStore.params(), g.params());
                assertEquals(fromStore.getUpdater().getStateViewArray(), g.getUpdater().getStateViewArray());
                INDArray[] have = g.output(probe.getFeatures());
                for (int i = 0; i < want.length; i++) {
                    assertArrayEquals(want[i].data().asDouble(), have[i].data().asDouble(), 0.0, "output " + i);
                }
                assertEquals(fromStore.score(probe), g.score(probe), 0.0);
            }
        } finally {
            spark.stop();
        }
    }
}
