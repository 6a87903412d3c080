package io.sparkmp.ml;

import io.sparkmp.model.ModelInput;
import io.sparkmp.model.ModelJson;
import io.sparkmp.plan.PipelinePlan;
import io.sparkmp.runtime.PipelineSpec;
import io.sparkmp.spark.PipelineTrainer;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.layers.Layer;

/**
 * The {@code modelConfiguration} Param read as what it is: a MultiLayerConfiguration or a ComputationGraphConfiguration
 * of one input and one output. Each kind tells its input width, checks its output layer against {@code numClasses},
 * starts its trainer and describes the trained model ({@link TrainedModel}).
 */
sealed interface ModelConfig permits ModelConfig.Layers, ModelConfig.Graph {

    /**
     * The configuration of {@code json}.
     *
     * @throws IllegalArgumentException when DL4J cannot read it as the kind it is (naming the kind and the cause)
     */
    static ModelConfig parse(String json) {
        if (json == null || json.isBlank()) {
            throw new IllegalArgumentException("modelConfiguration is empty: give a DL4J MultiLayerConfiguration or "
                    + "ComputationGraphConfiguration as JSON (conf.toJson())");
        }
        if (ModelJson.isGraph(json)) {
            try {
                return new Graph(ComputationGraphConfiguration.fromJson(json));
            } catch (RuntimeException e) {
                throw new IllegalArgumentException("modelConfiguration looks like a ComputationGraphConfiguration (it has "
                        + "vertices) but DL4J cannot read it: " + e.getMessage(), e);
            }
        }
        try {
            return new Layers(MultiLayerConfiguration.fromJson(json));
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("modelConfiguration is neither a DL4J ComputationGraphConfiguration (no "
                    + "vertices) nor a MultiLayerConfiguration JSON DL4J can read: " + e.getMessage(), e);
        }
    }

    /** Values in one example's flat features row, or -1 when the model does not tell it. */
    int inputWidth();

    /**
     * Checks the shape the ML classes need (a graph: exactly one input and one output) and that the output layer
     * matches the label: nOut = numClasses for classification, 1 for regression (the prediction is one double).
     *
     * @throws IllegalArgumentException naming what does not match
     */
    void requireUsable(int numClasses);

    /** The trainer's builder for this configuration (the Params add the rest). */
    PipelineTrainer.Builder builder();

    /** The trained model this configuration becomes under {@code plan}. */
    TrainedModel trained(PipelinePlan plan, long seed);

    /** A MultiLayerConfiguration. */
    record Layers(MultiLayerConfiguration conf) implements ModelConfig {
        @Override
        public int inputWidth() {
            return PipelineTrainer.inputWidth(conf);
        }

        @Override
        public void requireUsable(int numClasses) {
            requireOutputWidth(conf.getConf(conf.getConfs().size() - 1).getLayer(), numClasses);
        }

        @Override
        public PipelineTrainer.Builder builder() {
            return PipelineTrainer.builder(conf);
        }

        @Override
        public TrainedModel trained(PipelinePlan plan, long seed) {
            return new TrainedModel.Layers(PipelineSpec.of(conf, plan.boundaries(), plan.schedule(), plan.devices(),
                    plan.stagesPerDevice(), plan.microBatches(), plan.batchSize(), seed));
        }
    }

    /** A ComputationGraphConfiguration (one input, one output; checked by {@link #requireUsable}). */
    record Graph(ComputationGraphConfiguration conf) implements ModelConfig {
        @Override
        public int inputWidth() {
            ModelInput in = ModelInput.of(conf);
            return in == null ? -1 : Math.toIntExact(in.fixedWidth());
        }

        @Override
        public void requireUsable(int numClasses) {
            if (conf.getNetworkInputs().size() != 1 || conf.getNetworkOutputs().size() != 1) {
                throw new IllegalArgumentException("the Spark ML estimator takes a ComputationGraph of one input and "
                        + "one output (one features column, one label column); this one has "
                        + conf.getNetworkInputs().size() + " inputs " + conf.getNetworkInputs() + " and "
                        + conf.getNetworkOutputs().size() + " outputs " + conf.getNetworkOutputs()
                        + ": train it with PipelineTrainer.builder(graph).featureColumns(...).labelColumns(...)");
            }
            GraphVertex out = conf.getVertices().get(conf.getNetworkOutputs().get(0));
            if (out instanceof LayerVertex lv) {
                requireOutputWidth(lv.getLayerConf().getLayer(), numClasses);
            }
        }

        @Override
        public PipelineTrainer.Builder builder() {
            return PipelineTrainer.builder(conf);
        }

        @Override
        public TrainedModel trained(PipelinePlan plan, long seed) {
            return new TrainedModel.Graph(conf.toJson(), plan.boundaries(), plan.devices());
        }
    }

    private static void requireOutputWidth(Layer last, int numClasses) {
        if (!(last instanceof FeedForwardLayer ff)) {
            return;
        }
        long nOut = ff.getNOut();
        if (numClasses > 0 && nOut != numClasses) {
            throw new IllegalArgumentException("the model's output layer has nOut " + nOut + ", numClasses is "
                    + numClasses + ": they must be equal");
        }
        if (numClasses == 0 && nOut != 1) {
            throw new IllegalArgumentException("numClasses = 0 (regression) needs an output layer with nOut 1 (the "
                    + "prediction is one value), found nOut " + nOut);
        }
    }
}
