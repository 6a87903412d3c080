package io.sparkmp.ml;

import io.sparkmp.schedule.ScheduleKind;
import io.sparkmp.spark.PipelineTrainer;
import io.sparkmp.spark.TrainingResult;
import io.sparkmp.plan.PipelinePlan;
import org.apache.spark.ml.Estimator;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsWritable;
import org.apache.spark.ml.util.Identifiable$;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.StructType;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;

import java.net.URI;

/**
 * Fits a DL4J {@link MultiLayerConfiguration} (or a ComputationGraphConfiguration of one input and one output)
 * pipeline-parallel on a DataFrame: the same path as
 * {@link PipelineTrainer} (planner, barrier job, per-layer store), with Spark ML's Params.
 *
 * <pre>{@code
 * PipelineParallelEstimator est = new PipelineParallelEstimator()
 *         .setModelConfiguration(conf.toJson()).setNumClasses(3).setBatchSize(64).setEpochs(5);
 * PipelineParallelModel model = est.fit(trainDf);
 * Dataset<Row> scored = model.transform(testDf);  // adds prediction (and probability)
 * }</pre>
 *
 * <p>Params that are not set fall back to the session's {@code spark.mp.*} settings, then to the defaults that
 * {@code explainParams()} shows; {@code stages}, {@code microBatches}, {@code schedule} and
 * {@code stagesPerDevice} left unset are the planner's choice. Misuse: the cluster must offer the plan's stage
 * count of task slots at once (as for {@link PipelineTrainer}); do not fit concurrently with other barrier jobs
 * needing the same slots.
 */
public final class PipelineParallelEstimator extends Estimator<PipelineParallelModel>
        implements PipelineParallelParams, DefaultParamsWritable {
    private static final long serialVersionUID = 1L;

    private final String uid;
    private final ParamDecls decls;

    public PipelineParallelEstimator() {
        this(Identifiable$.MODULE$.randomUID("pipelineParallel"));
    }

    public PipelineParallelEstimator(String uid) {
        this.uid = uid;
        this.decls = new ParamDecls(this);
        decls.setDefaults(this);
    }

    @Override
    public String uid() {
        return uid;
    }

    /** The declarations of this instance (one per owner, so each Param's parent is this instance's uid). */
    ParamDecls decls() {
        return decls;
    }

    public PipelineParallelEstimator setFeaturesCol(String v) {
        return (PipelineParallelEstimator) set(featuresCol(), v);
    }

    public PipelineParallelEstimator setLabelCol(String v) {
        return (PipelineParallelEstimator) set(labelCol(), v);
    }

    public PipelineParallelEstimator setPredictionCol(String v) {
        return (PipelineParallelEstimator) set(predictionCol(), v);
    }

    public PipelineParallelEstimator setProbabilityCol(String v) {
        return (PipelineParallelEstimator) set(probabilityCol(), v);
    }

    /**
     * The model, as {@code MultiLayerConfiguration.toJson()} or {@code ComputationGraphConfiguration.toJson()} (a graph
     * of one input and one output).
     */
    public PipelineParallelEstimator setModelConfiguration(String json) {
        return (PipelineParallelEstimator) set(modelConfiguration(), json);
    }

    public PipelineParallelEstimator setNumClasses(int v) {
        return (PipelineParallelEstimator) set(numClasses(), v);
    }

    public PipelineParallelEstimator setStages(int v) {
        return (PipelineParallelEstimator) set(stages(), v);
    }

    public PipelineParallelEstimator setMicroBatches(int v) {
        return (PipelineParallelEstimator) set(microBatches(), v);
    }

    /** {@code gpipe}, {@code 1f1b} or {@code interleaved}. */
    public PipelineParallelEstimator setSchedule(String v) {
        return (PipelineParallelEstimator) set(schedule(), v);
    }

    public PipelineParallelEstimator setStagesPerDevice(int v) {
        return (PipelineParallelEstimator) set(stagesPerDevice(), v);
    }

    /** Data-parallel replicas R of the pipeline (P x R barrier tasks); R x microBatches must divide the batch. */
    public PipelineParallelEstimator setReplicas(int v) {
        return (PipelineParallelEstimator) set(replicas(), v);
    }

    public PipelineParallelEstimator setBatchSize(int v) {
        return (PipelineParallelEstimator) set(batchSize(), v);
    }

    public PipelineParallelEstimator setEpochs(int v) {
        return (PipelineParallelEstimator) set(epochs(), v);
    }

    public PipelineParallelEstimator setSeed(long v) {
        return (PipelineParallelEstimator) set(seed(), v);
    }

    public PipelineParallelEstimator setShuffle(boolean v) {
        return (PipelineParallelEstimator) set(shuffle(), v);
    }

    public PipelineParallelEstimator setCheckpointDir(String v) {
        return (PipelineParallelEstimator) set(checkpointDir(), v);
    }

    public PipelineParallelEstimator setCheckpointEvery(int v) {
        return (PipelineParallelEstimator) set(checkpointEvery(), v);
    }

    public PipelineParallelEstimator setTransformMode(String v) {
        return (PipelineParallelEstimator) set(transformMode(), v);
    }

    public PipelineParallelEstimator setTransformBatchSize(int v) {
        return (PipelineParallelEstimator) set(transformBatchSize(), v);
    }

    /**
     * Trains on {@code dataset} (checked first: columns, types, vector size, label range, settings; all before
     * the training job). A ComputationGraph configuration must have one input and one output; it trains as
     * {@code PipelineTrainer.builder(graph)} does (one replica) and its model transforms per partition.
     *
     * @throws IllegalArgumentException for a missing or unusable column, a wrong vector size, labels outside
     *     [0, numClasses), an output layer that does not match numClasses, a graph of other than one input and one
     *     output, or bad settings
     */
    @Override
    public PipelineParallelModel fit(Dataset<?> dataset) {
        transformSchema(dataset.schema(), true);
        Dataset<Row> df = dataset.toDF();
        ModelConfig config = configuration();
        ModelColumns.requireVectorSize(df, getFeaturesCol(), config.inputWidth());
        PipelineTrainer trainer = trainer(config);
        TrainingResult r = trainer.fit(df, getFeaturesCol(), getLabelCol(), getNumClasses());
        PipelinePlan plan = r.plan();
        PipelineParallelModel model = new PipelineParallelModel(uid, config.trained(plan, getSeed()), r.store(),
                ModelFit.of(plan));
        return copyValues(model, ParamMap.empty()).setParent(this);
    }

    /** The trainer these Params describe: only Params that were set are given, the rest come from spark.mp.*. */
    PipelineTrainer trainer(ModelConfig conf) {
        PipelineTrainer.Builder b = conf.builder();
        if (isSet(stages())) {
            b.stages((Integer) getOrDefault(stages()));
        }
        if (isSet(microBatches())) {
            b.microBatches((Integer) getOrDefault(microBatches()));
        }
        if (isSet(schedule())) {
            b.schedule(ScheduleKind.parse(getOrDefault(schedule())));
        }
        if (isSet(stagesPerDevice())) {
            b.stagesPerDevice((Integer) getOrDefault(stagesPerDevice()));
        }
        if (isSet(replicas())) {
            b.replicas((Integer) getOrDefault(replicas()));
        }
        if (isSet(batchSize())) {
            b.batchSize(getBatchSize());
        }
        if (isSet(epochs())) {
            b.epochs(getEpochs());
        }
        if (isSet(seed())) {
            b.seed(getSeed());
        }
        if (isSet(shuffle())) {
            b.shuffle(getShuffle());
        }
        if (isSet(checkpointDir()) && !getCheckpointDir().isBlank()) {
            b.checkpoint(URI.create(getCheckpointDir()), getCheckpointEvery());
        }
        return b.build();
    }

    private ModelConfig configuration() {
        if (!isDefined(modelConfiguration())) {
            throw new IllegalArgumentException(uid + ": modelConfiguration is not set (give the DL4J "
                    + "MultiLayerConfiguration or ComputationGraphConfiguration as JSON with "
                    + "setModelConfiguration(conf.toJson()))");
        }
        return ModelConfig.parse(getModelConfiguration());
    }

    /**
     * Checks the input columns (features an ML Vector; label numeric), that a graph has one input and one output, and
     * that the model's output layer matches {@code numClasses}; adds the prediction (and probability) columns.
     */
    @Override
    public StructType transformSchema(StructType schema) {
        ModelConfig conf = configuration();
        conf.requireUsable(getNumClasses());
        ModelColumns.requireColumn(schema, getLabelCol(), "label");
        return ModelColumns.outputSchema(schema, getFeaturesCol(), conf.inputWidth(), getNumClasses(),
                getPredictionCol(), getProbabilityCol());
    }

    @Override
    public PipelineParallelEstimator copy(ParamMap extra) {
        return (PipelineParallelEstimator) defaultCopy(extra);
    }

    public static MLReader<PipelineParallelEstimator> read() {
        return new DefaultParamsReader<>();
    }

    public static PipelineParallelEstimator load(String path) {
        return read().load(path);
    }
}
