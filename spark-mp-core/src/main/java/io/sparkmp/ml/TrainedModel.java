package io.sparkmp.ml;

import io.sparkmp.runtime.PipelineSpec;
import io.sparkmp.spark.PipelineInference;
import org.apache.spark.SparkContext;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;

import java.io.Serializable;
import java.net.URI;
import java.util.Arrays;

/**
 * What {@link PipelineParallelModel} knows of its trained model besides the store: a MultiLayerNetwork's split (the
 * stages a pipelined transform runs) or a ComputationGraph's JSON with the plan's facts (boundaries over the
 * topological order of its vertices, devices). The graph kind scores per partition only.
 */
sealed interface TrainedModel extends Serializable permits TrainedModel.Layers, TrainedModel.Graph {

    /** Index (layer, or vertex in topological order) where each trained stage starts, then the count. */
    int[] boundaries();

    /** The trained split's pipeline ranks. */
    int devices();

    /** The model's configuration (its input width and output checks). */
    ModelConfig config();

    /** Whether a pipelined transform can run this model. */
    boolean pipelines();

    /**
     * The split a pipelined transform runs.
     *
     * @throws IllegalArgumentException when the model does not transform pipelined ({@link #pipelines()})
     */
    PipelineSpec pipelinedSplit();

    /** The whole model in one task, per partition. */
    PipelineInference.RowScorer localScorer(SparkContext sc, URI store);

    /** A MultiLayerNetwork trained on {@code split}. */
    record Layers(PipelineSpec split) implements TrainedModel {
        private static final long serialVersionUID = 1L;

        @Override
        public int[] boundaries() {
            return split.boundaries();
        }

        @Override
        public int devices() {
            return split.devices();
        }

        @Override
        public ModelConfig config() {
            return new ModelConfig.Layers(split.configuration());
        }

        @Override
        public boolean pipelines() {
            return true;
        }

        @Override
        public PipelineSpec pipelinedSplit() {
            return split;
        }

        @Override
        public PipelineInference.RowScorer localScorer(SparkContext sc, URI store) {
            return PipelineInference.scorer(sc, split, store);
        }
    }

    /**
     * A ComputationGraph (one input, one output).
     *
     * @param json {@code ComputationGraphConfiguration.toJson()}
     * @param boundaries the plan's stage boundaries over {@code GraphSlicer.order} (the vertices' topological order)
     * @param devices the plan's pipeline ranks
     */
    record Graph(String json, int[] boundaries, int devices) implements TrainedModel {
        private static final long serialVersionUID = 1L;

        public Graph {
            boundaries = boundaries.clone();
        }

        @Override
        public int[] boundaries() {
            return boundaries.clone();
        }

        @Override
        public ModelConfig config() {
            return new ModelConfig.Graph(ComputationGraphConfiguration.fromJson(json));
        }

        @Override
        public boolean pipelines() {
            return false;
        }

        @Override
        public PipelineSpec pipelinedSplit() {
            throw new IllegalArgumentException("pipelined transform is not supported for ComputationGraph models yet; "
                    + "use transformMode local");
        }

        @Override
        public PipelineInference.RowScorer localScorer(SparkContext sc, URI store) {
            return PipelineInference.graphScorer(sc, store);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Graph g && json.equals(g.json) && Arrays.equals(boundaries, g.boundaries)
                    && devices == g.devices;
        }

        @Override
        public int hashCode() {
            return 31 * json.hashCode() + Arrays.hashCode(boundaries) + devices;
        }

        @Override
        public String toString() {
            return "Graph[boundaries=" + Arrays.toString(boundaries) + ", devices=" + devices + "]";
        }
    }
}
