package io.sparkmp.bench;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.spark.api.RDDTrainingApproach;
import org.deeplearning4j.spark.impl.multilayer.SparkDl4jMultiLayer;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.nd4j.linalg.dataset.DataSet;

import java.util.Locale;

/**
 * The DL4J Spark contender of {@link ThroughputBenchmark}, alone in this class because dl4j-spark exists for
 * Scala 2.12 only: the Spark 4 build leaves this file out ({@link ThroughputRuns#dl4jSpark} finds it by name).
 */
final class Dl4jSparkPeer {
    private Dl4jSparkPeer() {
    }

    /**
     * DL4J Spark, {@code SparkDl4jMultiLayer} with {@code ParameterAveragingTrainingMaster} on all executors:
     * {@code batch} examples per worker per step (as {@code fit}), averaging every {@code averaging} steps, the
     * {@code Direct} training approach (DL4J's default, exporting the RDD to files, refuses a local default file
     * system on a non-local master). DL4J Spark runs no step the caller can time, so the throughput is examples
     * per epoch / wall time of one {@code fit(rdd)} call (one epoch), median over the timed epochs after one
     * warm-up epoch; the loss is taken after that first epoch (the same samples as the others).
     */
    static ThroughputRow run(JavaSparkContext jsc, MultiLayerNetwork initial, JavaRDD<DataSet> data, DataSet eval,
                             ThroughputOptions o, boolean saveUpdater) {
        String name = "dl4j-spark paramavg saveUpdater=" + saveUpdater;
        try {
            ParameterAveragingTrainingMaster tm = new ParameterAveragingTrainingMaster.Builder(o.batch())
                    .batchSizePerWorker(o.batch()).averagingFrequency(o.averaging()).saveUpdater(saveUpdater)
                    .rddTrainingApproach(RDDTrainingApproach.Direct).rngSeed(o.seed()).build();
            SparkDl4jMultiLayer net = new SparkDl4jMultiLayer(jsc, initial.clone(), tm);
            long examples = (long) o.steps() * o.batch();
            double loss = Double.NaN;
            double[] rates = new double[o.dl4jEpochs()];
            double[] epochSeconds = new double[o.dl4jEpochs()];
            for (int e = 0; e <= o.dl4jEpochs(); e++) {
                long t0 = System.nanoTime();
                net.fit(data);
                double s = (System.nanoTime() - t0) / 1e9;
                if (e == 0) {
                    loss = net.getNetwork().score(eval);
                    System.out.printf(Locale.ROOT, "  %s: warm-up epoch %.1f s (not counted)%n", name, s);
                } else {
                    rates[e - 1] = examples / s;
                    epochSeconds[e - 1] = s;
                    System.out.printf(Locale.ROOT, "  %s: epoch %d %.1f s, %.1f samples/s%n", name, e, s, examples / s);
                }
            }
            int workers = jsc.sc().defaultParallelism();
            return new ThroughputRow(name, false, ThroughputRuns.median(rates), ThroughputRuns.median(epochSeconds) * workers / o.steps(),
                    Double.NaN, Double.NaN, null, loss, "examples / fit(rdd) wall time per epoch, median of "
                    + o.dl4jEpochs() + " after 1 warm-up epoch; step ms = epoch / (steps / " + workers + " workers)",
                    null);
        } catch (RuntimeException e) {
            return ThroughputRow.failed(name, false, e);
        }
    }
}
