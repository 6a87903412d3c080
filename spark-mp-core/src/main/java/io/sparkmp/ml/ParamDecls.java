package io.sparkmp.ml;

import io.sparkmp.spark.SparkMpConf;
import org.apache.spark.ml.param.BooleanParam;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.LongParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamValidators;
import org.apache.spark.ml.param.Params;
import scala.runtime.AbstractFunction1;

import java.io.Serializable;

/**
 * The Params of {@link PipelineParallelEstimator} and {@link PipelineParallelModel}, declared once (name, doc,
 * validator) for an owner, with their defaults. Training defaults are those of the {@code spark.mp.*} settings
 * ({@link SparkMpConf}), so {@code explainParams()} shows what applies; an unset Param falls back to the
 * {@code spark.mp.*} key of the session, then to that default.
 */
final class ParamDecls implements Serializable {
    private static final long serialVersionUID = 1L;

    /** The declarations of {@code owner}, one of the two classes that share the Params. */
    static ParamDecls of(PipelineParallelParams owner) {
        if (owner instanceof PipelineParallelEstimator e) {
            return e.decls();
        }
        if (owner instanceof PipelineParallelModel m) {
            return m.decls();
        }
        throw new IllegalArgumentException("PipelineParallelParams is implemented by PipelineParallelEstimator and "
                + "PipelineParallelModel only, found " + owner.getClass().getName());
    }

    /** Values of {@link #transformMode}. */
    static final String AUTO = "auto";
    static final String PIPELINED = "pipelined";
    static final String LOCAL = "local";

    final Param<String> featuresCol;
    final Param<String> labelCol;
    final Param<String> predictionCol;
    final Param<String> probabilityCol;
    final Param<String> modelConfiguration;
    final IntParam numClasses;
    final IntParam stages;
    final IntParam microBatches;
    final Param<String> schedule;
    final IntParam stagesPerDevice;
    final IntParam replicas;
    final IntParam batchSize;
    final IntParam epochs;
    final LongParam seed;
    final BooleanParam shuffle;
    final Param<String> checkpointDir;
    final IntParam checkpointEvery;
    final Param<String> transformMode;
    final IntParam transformBatchSize;

    ParamDecls(Params owner) {
        featuresCol = new Param<>(owner, "featuresCol", "features column name: an ML Vector of the model's input width",
                nonEmpty());
        labelCol = new Param<>(owner, "labelCol", "label column name: a class index in [0, numClasses) or, with "
                + "numClasses = 0, the regression target", nonEmpty());
        predictionCol = new Param<>(owner, "predictionCol", "prediction column name: the class index (as a double) "
                + "or the regression value", nonEmpty());
        probabilityCol = new Param<>(owner, "probabilityCol", "column name for the class probabilities (an ML "
                + "Vector; classification only)", nonEmpty());
        modelConfiguration = new Param<>(owner, "modelConfiguration", "the DL4J MultiLayerConfiguration or "
                + "ComputationGraphConfiguration (one input, one output; transforms per partition) as JSON "
                + "(conf.toJson()); required", new IsModelJson());
        numClasses = new IntParam(owner, "numClasses", "number of classes of the label (one-hot encoded for the "
                + "model's output layer); 0: regression (>= 0)", ParamValidators.gtEq(0));
        stages = new IntParam(owner, "stages", "pipeline stages P (one barrier task, executor slot and device "
                + "each); unset: the planner chooses (>= 1)", ParamValidators.gtEq(1));
        microBatches = new IntParam(owner, "microBatches", "micro-batches per mini-batch; must divide batchSize; "
                + "unset: the planner chooses (>= 1)", ParamValidators.gtEq(1));
        schedule = new Param<>(owner, "schedule", "pipeline schedule: gpipe, 1f1b or interleaved; unset: the planner "
                + "chooses", ParamValidators.inArray(new String[] {"gpipe", "1f1b", "interleaved"}));
        stagesPerDevice = new IntParam(owner, "stagesPerDevice", "virtual stages per device (interleaved only, then "
                + ">= 2); unset: the planner chooses (>= 1)", ParamValidators.gtEq(1));
        replicas = new IntParam(owner, "replicas", "data-parallel replicas R of the pipeline: P x R barrier tasks, "
                + "each replica trains batchSize / R examples of every mini-batch and the stages' gradients are "
                + "summed across replicas before each step (R x microBatches must divide batchSize); unset: "
                + "spark.mp.replicas (default auto: the planner chooses) (>= 1)", ParamValidators.gtEq(1));
        batchSize = new IntParam(owner, "batchSize", "examples per mini-batch (one optimizer step); a last partial "
                + "mini-batch is dropped (>= 1)", ParamValidators.gtEq(1));
        epochs = new IntParam(owner, "epochs", "passes over the training data (>= 1)", ParamValidators.gtEq(1));
        seed = new LongParam(owner, "seed", "seed of parameter initialisation, dropout masks and shuffling",
                anyValue());
        shuffle = new BooleanParam(owner, "shuffle", "shuffle the examples (seeded); off keeps the input order, as "
                + "DL4J's own fit on the same rows");
        checkpointDir = new Param<>(owner, "checkpointDir", "directory (any Hadoop FileSystem URI) for training "
                + "checkpoints, from which a retried stage resumes; empty: no checkpoints",
                anyValue());
        checkpointEvery = new IntParam(owner, "checkpointEvery", "a checkpoint after every this many optimizer steps "
                + "(0: only when training ends; needs checkpointDir) (>= 0)", ParamValidators.gtEq(0));
        transformMode = new Param<>(owner, "transformMode", "how transform runs: pipelined (one barrier job over the "
                + "trained split's executors, each holding only its stages), local (the whole model in each task, "
                + "per partition, no barrier) or auto (local when the model's parameters and activations fit one "
                + "device's budget by the planner's estimate or the split has one stage, else pipelined)",
                ParamValidators.inArray(new String[] {AUTO, PIPELINED, LOCAL}));
        transformBatchSize = new IntParam(owner, "transformBatchSize", "rows per forward micro-batch in transform "
                + "(>= 1)", ParamValidators.gtEq(1));
    }

    /** Sets the defaults on the owner (called once, from its constructor). */
    void setDefaults(Params owner) {
        owner.setDefault(featuresCol, "features");
        owner.setDefault(labelCol, "label");
        owner.setDefault(predictionCol, "prediction");
        owner.setDefault(probabilityCol, "probability");
        owner.setDefault(numClasses, 0);
        owner.setDefault(batchSize, SparkMpConf.BATCH_SIZE.defaultValue());
        owner.setDefault(epochs, SparkMpConf.EPOCHS.defaultValue());
        owner.setDefault(seed, SparkMpConf.SEED.defaultValue());
        owner.setDefault(shuffle, SparkMpConf.SHUFFLE.defaultValue());
        owner.setDefault(checkpointDir, SparkMpConf.CHECKPOINT_DIR.defaultValue());
        owner.setDefault(checkpointEvery, SparkMpConf.CHECKPOINT_EVERY.defaultValue());
        owner.setDefault(transformMode, AUTO);
        owner.setDefault(transformBatchSize, 256);
    }

    private static <T> scala.Function1<T, Object> anyValue() {
        return new AnyValue<>();
    }

    private static final class AnyValue<T> extends AbstractFunction1<T, Object> implements Serializable {
        private static final long serialVersionUID = 1L;

        @Override
        public Object apply(T v) {
            return true;
        }
    }

    private static scala.Function1<String, Object> nonEmpty() {
        return new NonEmpty();
    }

    private static final class NonEmpty extends AbstractFunction1<String, Object> implements Serializable {
        private static final long serialVersionUID = 1L;

        @Override
        public Object apply(String s) {
            return s != null && !s.isBlank();
        }
    }

    /**
     * Accepts a JSON text that DL4J reads as a MultiLayerConfiguration or a ComputationGraphConfiguration; anything
     * else is refused with an IllegalArgumentException naming what was wrong ({@link ModelConfig#parse}), rather than
     * Spark's message that only repeats the value.
     */
    private static final class IsModelJson extends AbstractFunction1<String, Object> implements Serializable {
        private static final long serialVersionUID = 1L;

        @Override
        public Object apply(String json) {
            ModelConfig.parse(json);
            return true;
        }
    }
}
