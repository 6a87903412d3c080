package io.sparkmp.ml;

import org.apache.spark.ml.Pipeline;
import org.apache.spark.ml.PipelineStage;
import org.apache.spark.ml.feature.StringIndexer;
import org.apache.spark.ml.feature.VectorAssembler;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.ml.linalg.VectorUDT;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/** Shared data and models of the ML tests: a CSV of 3 Gaussian classes, a small MLP and a small skip graph. */
final class MlFixtures {
    static final String[] CLASSES = {"setosa", "versicolor", "virginica"};

    private MlFixtures() {
    }

    /** {@code rows} rows of f0..f3 (class c shifts feature c by 2) and a string label, as a CSV file. */
    /** The in-process local[2] session the estimator tests share: analytic plans, short waits, no progress lines. */
    static SparkSession localSpark(String appName) {
        return SparkSession.builder().master("local[2]").appName(appName)
                .config("spark.ui.enabled", "false")
                .config("spark.mp.slotWaitTimeout", "2s")
                .config("spark.mp.transport.ioTimeout", "60s")
                .config("spark.mp.plan.profile", "analytic")
                .config("spark.mp.logEvery", "0")
                .getOrCreate();
    }

    static Path writeCsv(Path dir, int rows, long seed) throws IOException {
        Random r = new Random(seed);
        StringBuilder sb = new StringBuilder("f0,f1,f2,f3,species\n");
        for (int i = 0; i < rows; i++) {
            int c = r.nextInt(3);
            for (int j = 0; j < 4; j++) {
                sb.append(String.format(Locale.ROOT, "%.5f,", (j == c ? 2.0 : 0) + 0.6 * r.nextGaussian()));
            }
            sb.append(CLASSES[c]).append('\n');
        }
        Path f = dir.resolve("data-" + seed + ".csv");
        Files.writeString(f, sb.toString());
        return f;
    }

    static Dataset<Row> readCsv(SparkSession spark, Path csv) {
        return spark.read().option("header", "true").option("inferSchema", "true").csv(csv.toString());
    }

    /** 4 inputs, three tanh layers of 8, softmax over 3 classes; double precision, Adam. */
    static MultiLayerConfiguration classifier() {
        return new NeuralNetConfiguration.Builder().seed(11).dataType(DataType.DOUBLE).updater(new Adam(0.05))
                .weightInit(WeightInit.XAVIER).list()
                .layer(new DenseLayer.Builder().nIn(4).nOut(8).activation(Activation.TANH).build())
                .layer(new DenseLayer.Builder().nIn(8).nOut(8).activation(Activation.TANH).build())
                .layer(new DenseLayer.Builder().nIn(8).nOut(8).activation(Activation.TANH).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(8).nOut(3)
                        .activation(Activation.SOFTMAX).build())
                .build();
    }

    /**
     * A one-input one-output ComputationGraph: in (4) -> d0 (8) -> d1 (8), add(d0, d1) -> softmax over 3 classes;
     * double precision, Adam.
     */
    static ComputationGraphConfiguration skipGraph() {
        return new NeuralNetConfiguration.Builder().seed(11).dataType(DataType.DOUBLE).updater(new Adam(0.01))
                .weightInit(WeightInit.XAVIER).activation(Activation.TANH).graphBuilder()
                .addInputs("in")
                .setInputTypes(InputType.feedForward(4))
                .addLayer("d0", new DenseLayer.Builder().nOut(8).build(), "in")
                .addLayer("d1", new DenseLayer.Builder().nOut(8).build(), "d0")
                .addVertex("add", new ElementWiseVertex(ElementWiseVertex.Op.Add), "d0", "d1")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX)
                        .nOut(3).build(), "add")
                .setOutputs("out")
                .build();
    }

    /** {@code batches} mini-batches of {@code size} examples of the 3 Gaussian classes (4 features, one-hot labels). */
    static List<MultiDataSet> gaussianBatches(int batches, int size, long seed) {
        Random r = new Random(seed);
        List<MultiDataSet> out = new ArrayList<>();
        for (int b = 0; b < batches; b++) {
            double[][] x = new double[size][4];
            double[][] y = new double[size][3];
            for (int i = 0; i < size; i++) {
                int c = r.nextInt(3);
                for (int j = 0; j < 4; j++) {
                    x[i][j] = (j == c ? 2.0 : 0) + 0.6 * r.nextGaussian();
                }
                y[i][c] = 1;
            }
            out.add(new org.nd4j.linalg.dataset.MultiDataSet(Nd4j.create(x), Nd4j.create(y)));
        }
        return out;
    }

    /** The batches as rows, in order: features (an ML Vector) and label (the class index as a double). */
    static Dataset<Row> rows(SparkSession spark, List<MultiDataSet> batches) {
        List<Row> rows = new ArrayList<>();
        for (MultiDataSet ds : batches) {
            for (int i = 0; i < ds.getFeatures(0).size(0); i++) {
                rows.add(RowFactory.create(Vectors.dense(ds.getFeatures(0).getRow(i).toDoubleVector()),
                        (double) ds.getLabels(0).getRow(i).argMax().getInt(0)));
            }
        }
        StructType schema = new StructType().add("features", new VectorUDT()).add("label", DataTypes.DoubleType);
        return spark.createDataFrame(rows, schema);
    }

    /** VectorAssembler (f0..f3) -> StringIndexer (species) -> the estimator, on 2 stages. */
    static Pipeline pipeline(PipelineParallelEstimator est) {
        VectorAssembler assembler = new VectorAssembler().setInputCols(new String[] {"f0", "f1", "f2", "f3"})
                .setOutputCol("features");
        StringIndexer labels = new StringIndexer().setInputCol("species").setOutputCol("label");
        return new Pipeline().setStages(new PipelineStage[] {assembler, labels, est});
    }

    static PipelineParallelEstimator estimator() {
        return new PipelineParallelEstimator().setModelConfiguration(classifier().toJson()).setNumClasses(3)
                .setStages(2).setMicroBatches(2).setBatchSize(16).setEpochs(15).setSeed(5);
    }
}
