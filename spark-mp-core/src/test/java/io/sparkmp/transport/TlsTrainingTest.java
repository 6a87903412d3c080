package io.sparkmp.transport;

import io.sparkmp.spark.PipelineTrainer;
import io.sparkmp.spark.ProfileMode;
import io.sparkmp.spark.StepReport;
import io.sparkmp.spark.TrainingResult;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Training through Spark with the channel on TLS: the executors read the key store password from their own
 * Spark configuration (it is not in the broadcast job spec) and the stages train over TLS links.
 */
class TlsTrainingTest {

    @Test
    void twoStagesTrainOverTlsWithThePasswordFromTheExecutorsConfiguration(@TempDir Path dir) throws Exception {
        Path keyStore = TlsTest.selfSigned(dir, "spark");
        SparkSession spark = SparkSession.builder().master("local[2]").appName("TlsTrainingTest")
                .config("spark.ui.enabled", "false")
                .config("spark.mp.transport.tls.enabled", "true")
                .config("spark.mp.transport.tls.keyStore", keyStore.toString())
                .config("spark.mp.transport.tls.keyStorePassword", new String(TlsTest.PASSWORD))
                .getOrCreate();
        try {
            MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(1).list()
                    .layer(new DenseLayer.Builder().nIn(3).nOut(4).activation(Activation.TANH).build())
                    .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nIn(4).nOut(2)
                            .activation(Activation.IDENTITY).build()).build();
            List<DataSet> data = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                data.add(new DataSet(Nd4j.rand(1, 3), Nd4j.rand(1, 2)));
            }
            TrainingResult r = PipelineTrainer.builder(conf).stages(2).microBatches(2).batchSize(4).logEvery(0)
                    .profile(ProfileMode.ANALYTIC).build()
                    .fit(JavaSparkContext.fromSparkContext(spark.sparkContext()).parallelize(data, 2));
            assertEquals(4, r.metrics().size());
            for (StepReport s : r.metrics()) {
                assertTrue(Double.isFinite(s.loss()) && s.loss() > 0, s.toString());
            }
        } finally {
            spark.stop();
        }
    }
}
