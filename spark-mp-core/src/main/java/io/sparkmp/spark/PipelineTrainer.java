package io.sparkmp.spark;

import io.sparkmp.model.ModelInput;
import io.sparkmp.model.ModelSlicer;

import io.sparkmp.plan.PipelinePlan;
import io.sparkmp.runtime.PipelineSpec;
import io.sparkmp.runtime.Topology;
import io.sparkmp.schedule.PipelineRules;
import io.sparkmp.schedule.ScheduleKind;
import io.sparkmp.store.StoreManifest;
import org.apache.spark.SparkContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.rdd.RDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.reflect.ClassTag$;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.function.Consumer;

/**
 * Trains a DL4J {@link MultiLayerConfiguration} pipeline-parallel on Spark: P barrier tasks, one per
 * executor slot (device), each holding a contiguous slice of the layers; activations and gradients flow
 * between neighbouring tasks over authenticated sockets; one optimizer step per mini-batch after all its
 * micro-batches, so the result equals DL4J's own {@code fit} on the same mini-batches, to round-off.
 *
 * <pre>{@code
 * TrainingResult r = PipelineTrainer.builder(conf).stages(4).microBatches(8)
 *         .schedule(ScheduleKind.ONE_F_ONE_B).batchSize(64).epochs(2).seed(42).shuffle(false).build()
 *         .fit(trainingData);
 * MultiLayerNetwork net = r.network();
 * }</pre>
 *
 * <p>Settings not given to the builder come from the {@code spark.mp.*} keys of the SparkConf (see
 * {@link SparkMpConf}), then from their defaults.
 *
 * <p>The split comes from the planner ({@link io.sparkmp.plan.PipelinePlanner}) unless given with
 * {@link Builder#boundaries(int...)} or {@link Builder#boundaryNames(String...)}; stages, micro-batches,
 * schedule and virtual stages that are given (builder or {@code spark.mp.*}) are fixed, the others the
 * planner chooses, from a profile measured on an executor (or analytic, {@link Builder#profile}), the free
 * executor slots, a memory budget per device and {@code spark.mp.plan.bandwidth}. {@link #plan(JavaRDD)} is
 * a dry run; {@code fit} logs {@link PipelinePlan#explain()} before launching and reports the predicted step
 * time next to the measured one ({@link TrainingResult#planAccuracy()}). With {@link Builder#replicas(int)} R &gt; 1
 * the job runs R data-parallel replicas of the pipeline (P x R tasks; see {@link SparkMpConf#REPLICAS}).
 *
 * <p>Misuse: the cluster must offer P x R task slots at once (one per stage and replica) with dynamic allocation off,
 * else {@code fit} fails before launching; do not call {@code fit} concurrently on one SparkContext with
 * other barrier jobs that need the same slots. A trainer is immutable and may be reused for several fits.
 */
public final class PipelineTrainer {
    private static final Logger LOG = LoggerFactory.getLogger(PipelineTrainer.class);

    private final MultiLayerConfiguration conf;
    /** The graph this trainer trains instead of {@link #conf} (then null), or null. */
    private final ComputationGraphConfiguration graph;
    private final InputType[] graphInputTypes;
    private final GraphRows graphRows;
    private final Map<ConfEntry<?>, Object> settings;
    private final MultiLayerNetwork initialNetwork;
    private final Consumer<StepReport> progressSink;
    private final EngineBridge engine;
    private final PlanChoices planChoices;

    private PipelineTrainer(Builder b) {
        this.planChoices = b.planChoices();
        this.conf = b.conf;
        this.graph = b.graph;
        this.graphInputTypes = b.graphInputTypes;
        this.graphRows = b.graphRows();
        this.settings = Collections.unmodifiableMap(new LinkedHashMap<>(b.settings));
        this.initialNetwork = b.initialNetwork;
        this.progressSink = b.progressSink;
        this.engine = b.engine;
    }

    /** Starts a trainer for {@code conf} (a copy of its JSON is taken at {@link Builder#build()}). */
    public static Builder builder(MultiLayerConfiguration conf) {
        if (conf == null) {
            throw new IllegalArgumentException("conf must not be null");
        }
        return new Builder(conf, null);
    }

    /**
     * Starts a trainer for a ComputationGraph: stages are contiguous ranges of DL4J's topological order of its
     * vertices, every tensor crossing a cut travels under its own key, and each rank that holds a graph input or an
     * output reads its own copy of the rows. Train with {@link #fitMultiDataSet} (or {@link #fit(JavaRDD)} for a
     * single-input single-output graph); the result gives a {@link ComputationGraph} ({@link TrainingResult#graph()}).
     *
     * <p>The builder's settings apply as for a MultiLayerNetwork except: one replica; no {@code initFrom},
     * {@code resumeFrom}, {@code initialParameters}, checkpoints, timeline nor {@code nonFinite(SKIP)}; the profile is
     * analytic; {@link Builder#boundaries} index the topological order ({@code GraphSlicer.order}) and
     * {@link Builder#boundaryNames} name vertices. These are refused before any job.
     *
     * @throws IllegalArgumentException for an unsupported vertex or a disconnected graph, naming it
     */
    public static Builder builder(ComputationGraphConfiguration graph) {
        if (graph == null) {
            throw new IllegalArgumentException("graph configuration must not be null");
        }
        io.sparkmp.model.GraphSupport.validate(graph);
        return new Builder(null, graph.clone());
    }

    /**
     * Trains on {@code data}. Each element may hold one or many examples; without shuffling they are
     * trained in input order (partition by partition), regrouped into mini-batches of {@code batchSize}; a
     * last partial mini-batch is dropped (see {@link TrainingResult#droppedPerEpoch()}).
     *
     * @throws IllegalArgumentException for bad settings (before anything runs)
     * @throws IllegalStateException when the cluster lacks slots or has dynamic allocation on (before launch)
     * @throws org.apache.spark.SparkException when training fails after Spark's stage retries
     */
    public TrainingResult fit(JavaRDD<DataSet> data) {
        if (graph != null) {
            if (graph.getNetworkInputs().size() != 1 || graph.getNetworkOutputs().size() != 1) {
                throw new IllegalArgumentException("fit(JavaRDD<DataSet>) needs a graph of one input and one output; "
                        + "this one has inputs " + graph.getNetworkInputs() + " and outputs " + graph.getNetworkOutputs()
                        + ": use fitMultiDataSet");
            }
            return fitMultiDataSet(data.map(ds -> new org.nd4j.linalg.dataset.MultiDataSet(ds.getFeatures(),
                    ds.getLabels(), ds.getFeaturesMaskArray(), ds.getLabelsMaskArray())));
        }
        SparkContext sc = data.context();
        Launch l = launchable(sc, data);
        return l.finish(run(sc, l, route(data, l.s())));
    }

    /**
     * Dry run: the plan {@code fit(data)} would follow, without training (the profiling job runs when the
     * profile is measured and not cached). {@link PipelinePlan#explain()} prints it.
     *
     * @throws IllegalArgumentException for bad settings or a bad manual split
     * @throws io.sparkmp.plan.InfeasiblePlanException when no split fits the memory budget
     */
    public PipelinePlan plan(JavaRDD<DataSet> data) {
        requireLayers("plan(JavaRDD<DataSet>)");
        return PlanResolver.plan(data.context(), conf, settings(data.context()), planChoices, data);
    }

    /** Dry run on rows, with the columns of {@link #fit(Dataset, String, String, int)} (checked the same way). */
    public PipelinePlan plan(Dataset<Row> data, String featuresCol, String labelCol, int numClasses) {
        requireLayers("plan(Dataset<Row>, ...)");
        TrainingInput.checkRows(data, featuresCol, labelCol, numClasses);
        return plan(TrainingInput.fromRows(data, featuresCol, labelCol, numClasses, modelInput(conf),
                TrainingInput.ROW_CHUNK));
    }

    /**
     * Dry run without data: as {@link #plan(JavaRDD)}; the model's input shape must come from its first layer
     * (a feed-forward layer with nIn) or {@link Builder#inputType}.
     */
    public PipelinePlan plan(SparkContext sc) {
        if (graph != null) {
            if (graphInputTypes == null) {
                throw new IllegalStateException("plan(SparkContext) of a ComputationGraph needs its input types: give "
                        + "Builder.inputTypes(...) or use planMultiDataSet(JavaRDD<MultiDataSet>)");
            }
            TrainingSettings given = settings(sc);
            GraphFit.refuseUnsupported(given);
            return planGraph(sc, given, null);
        }
        return PlanResolver.plan(sc, conf, settings(sc), planChoices, null);
    }

    /**
     * Dry run of {@link #fitMultiDataSet}: the same checks (settings, the first element against the graph's inputs
     * and outputs) and the same plan, without training; {@link PipelinePlan#explain()} shows what crosses each cut.
     *
     * @throws IllegalStateException when this trainer was built for a MultiLayerConfiguration
     */
    public PipelinePlan planMultiDataSet(JavaRDD<MultiDataSet> data) {
        if (graph == null) {
            throw new IllegalStateException("planMultiDataSet plans ComputationGraph configurations; this trainer was "
                    + "built for a MultiLayerConfiguration: use plan(JavaRDD<DataSet>)");
        }
        TrainingSettings given = settings(data.context());
        GraphFit.refuseUnsupported(given);
        MultiDataSet first = data.isEmpty() ? null : data.first();
        GraphFit.checkData(graph, first);
        return planGraph(data.context(), given, first);
    }

    /** The graph's plan under {@code given}, its input types from the builder or {@code firstOrNull}'s shapes. */
    private PipelinePlan planGraph(SparkContext sc, TrainingSettings given, MultiDataSet firstOrNull) {
        return GraphFit.plan(sc, graph, GraphFit.inputTypes(graph, graphInputTypes, firstOrNull), given, planChoices);
    }

    /**
     * Trains on rows: {@code featuresCol} an ML {@code Vector}, a numeric array or a number; {@code labelCol}
     * a class index in {@code [0, numClasses)} (one-hot encoded) or, with {@code numClasses = 0}, a numeric
     * regression target (number, array or Vector). Row order is kept when shuffling is off. A ComputationGraph of one
     * input and one output takes each row flat ({@code [n, width]}; a convolutional graph declares
     * {@code InputType.convolutionalFlat}).
     *
     * @throws IllegalArgumentException for bad settings, missing columns, unusable types or labels outside
     *                                  [0, numClasses), checked on the driver before training
     * @throws IllegalStateException when the cluster lacks slots or has dynamic allocation on (before launch)
     */
    public TrainingResult fit(Dataset<Row> data, String featuresCol, String labelCol, int numClasses) {
        if (graph != null) { // one input, one output: the rows as they are (a flat row per example)
            TrainingInput.checkRows(data, featuresCol, labelCol, numClasses);
            return fit(TrainingInput.fromRows(data, featuresCol, labelCol, numClasses, (ModelInput) null,
                    TrainingInput.ROW_CHUNK));
        }
        SparkContext sc = data.sparkSession().sparkContext();
        // Settings, plan and slots first when the model tells its input shape: the label check reads the data.
        Launch l = PlanResolver.inputTypeOf(conf, planChoices.inputType()) != null ? launchable(sc, null) : null;
        try {
            TrainingInput.checkRows(data, featuresCol, labelCol, numClasses);
        } catch (RuntimeException bad) {
            if (l != null) {
                l.stores().close(); // nothing trained: no output, no scratch store left behind
            }
            throw bad;
        }
        JavaRDD<DataSet> rows = TrainingInput.fromRows(data, featuresCol, labelCol, numClasses, modelInput(conf),
                TrainingInput.ROW_CHUNK);
        if (l == null) {
            l = launchable(sc, rows);
        }
        return l.finish(run(sc, l, route(rows, l.s())));
    }

    /**
     * Trains a ComputationGraph ({@link #builder(ComputationGraphConfiguration)}) on {@code data}: per element one
     * features array per graph input and one labels array per output, in the graph's input and output order (no
     * masks). Order, mini-batches and the dropped partial last mini-batch as {@link #fit(JavaRDD)}. (Named as DL4J's
     * {@code SparkComputationGraph.fitMultiDataSet}: Java cannot overload {@code fit} on the RDD's element type.)
     *
     * @throws IllegalArgumentException before any training job for unsupported settings, or a first element whose
     *     arrays do not match the graph's inputs and outputs (naming them)
     * @throws IllegalStateException when this trainer was built for a MultiLayerConfiguration, or the cluster lacks
     *     slots
     */
    public TrainingResult fitMultiDataSet(JavaRDD<MultiDataSet> data) {
        if (graph == null) {
            throw new IllegalStateException("fitMultiDataSet trains ComputationGraph configurations; this trainer was "
                    + "built for a MultiLayerConfiguration: use fit(JavaRDD<DataSet>)");
        }
        SparkContext sc = data.context();
        TrainingSettings given = settings(sc);
        GraphFit.refuseUnsupported(given);
        checkTls(given);
        MultiDataSet first = data.isEmpty() ? null : data.first();
        GraphFit.checkData(graph, first);
        PipelinePlan plan = planGraph(sc, given, first);
        TrainingSettings s = given.with(PlanReport.settingsOf(plan));
        ClusterCheck.requireSlots(sc, s.get(SparkMpConf.STAGES), 1, s.get(SparkMpConf.SLOT_WAIT));
        GraphJob job = GraphFit.job(graph, plan, s);
        String jobId = UUID.randomUUID().toString();
        FitStores stores = FitStores.prepare(sc.hadoopConfiguration(), null, jobId, storeSettings(s), null,
                s.get(SparkMpConf.SEED));
        JobSpec spec = new JobSpec(jobId, null, s.get(SparkMpConf.EPOCHS), s.get(SparkMpConf.SHUFFLE),
                s.get(SparkMpConf.CONNECT_TIMEOUT), s.get(SparkMpConf.IO_TIMEOUT), s.get(SparkMpConf.BIND_HOST),
                s.get(SparkMpConf.TLS_ENABLED), s.get(SparkMpConf.TLS_KEY_STORE), engine.newSecret(), stores.jobStore(),
                null, s.get(SparkMpConf.NON_FINITE), s.get(SparkMpConf.BARRIER_TIMEOUT), job);
        PlanReport.logPlan(plan);
        LOG.info("spark-mp: training {}", spec);
        Launch l = new Launch(plan, s, spec, stores);
        return l.finish(run(sc, l, new TrainingInput.Routed(GraphFit.route(data, job, s.get(SparkMpConf.SHUFFLE),
                s.get(SparkMpConf.SEED)), -1)));
    }

    /**
     * Trains a ComputationGraph on rows: the columns named by {@link Builder#featureColumns} (one per graph input, in
     * its input order: an ML {@code Vector}, a numeric array or a number; flat, or shaped by
     * {@link Builder#inputTypes} when they are recurrent or convolutional) and {@link Builder#labelColumns} (one per
     * output: a class index in {@code [0, K)}, one-hot encoded, with K from {@link Builder#labelClasses}, or with
     * K = 0 a numeric regression target). Row order is kept when shuffling is off.
     *
     * @throws IllegalArgumentException before any training job for a missing column, an unusable type or a label
     *     outside [0, K), naming the column
     * @throws IllegalStateException when the trainer was not built for a graph with its columns
     */
    public TrainingResult fit(Dataset<Row> data) {
        if (graph == null || graphRows == null) {
            throw new IllegalStateException("fit(Dataset<Row>) trains a ComputationGraph whose columns the builder names "
                    + "(featureColumns, labelColumns, labelClasses); use fit(df, featuresCol, labelCol, numClasses)");
        }
        graphRows.checkRows(data);
        return fitMultiDataSet(graphRows.toMultiDataSets(data, graphInputTypes, TrainingInput.ROW_CHUNK));
    }

    /** Refuses a MultiLayerNetwork-only entry point on a ComputationGraph trainer. */
    private void requireLayers(String what) {
        if (graph != null) {
            throw new IllegalStateException(what + " is not supported for ComputationGraph trainers yet; use "
                    + "fitMultiDataSet(JavaRDD<MultiDataSet>)");
        }
    }

    /** A fit ready to launch: its plan, effective settings and job spec. */
    private record Launch(PipelinePlan plan, TrainingSettings s, JobSpec spec, FitStores stores) {
        /** The result with the plan and its accuracy (logged). */
        TrainingResult finish(TrainingResult result) {
            TrainingResult out = PlanReport.attach(result, plan);
            TimelineCapture.writeIfAsked(s.get(SparkMpConf.TIMELINE_PATH), out, LOG);
            return out;
        }
    }

    /**
     * Every check that needs no training pass, in order: settings, the plan (profiling job when measured and
     * not cached; {@code dataOrNull} only to read the input shape), the split against the model, cluster slots.
     * Logs the plan.
     */
    private Launch launchable(SparkContext sc, JavaRDD<DataSet> dataOrNull) {
        TrainingSettings given = settings(sc);
        // The rules between what is known before planning (builder, Params, flags and spark.mp.* together).
        checkCrossFields(given.given(SparkMpConf.STAGES), given.given(SparkMpConf.STAGES_PER_DEVICE),
                given.given(SparkMpConf.MICRO_BATCHES), given.given(SparkMpConf.SCHEDULE),
                given.get(SparkMpConf.BATCH_SIZE), layerCount(conf), given.get(SparkMpConf.REPLICAS));
        checkTls(given);
        PipelinePlan plan = PlanResolver.plan(sc, conf, given, planChoices, dataOrNull);
        TrainingSettings s = given.with(PlanReport.settingsOf(plan));
        validate(s);
        ClusterCheck.requireSlots(sc, s.get(SparkMpConf.STAGES), s.get(SparkMpConf.REPLICAS), s.get(SparkMpConf.SLOT_WAIT));
        String jobId = UUID.randomUUID().toString();
        FitStores stores = FitStores.prepare(sc.hadoopConfiguration(), conf, jobId, storeSettings(s), initialNetwork,
                s.get(SparkMpConf.SEED));
        JobSpec spec = jobSpec(jobId, s, plan.boundaries(), plan.recomputePerStage(), stores.jobStore());
        PlanReport.logPlan(plan);
        LOG.info("spark-mp: training {}", spec);
        return new Launch(plan, s, spec, stores);
    }

    /** This trainer's settings over the session's spark.mp.* keys: the one value every later step reads. */
    private TrainingSettings settings(SparkContext sc) {
        return TrainingSettings.of(settings, SparkMpConf.from(sc.getConf()));
    }

    private TrainingInput.Routed route(JavaRDD<DataSet> data, TrainingSettings s) {
        int replicas = s.get(SparkMpConf.REPLICAS);
        if (replicas > 1) {
            return TrainingInput.routeToReplicas(data, new Topology(s.get(SparkMpConf.STAGES), replicas),
                    s.get(SparkMpConf.BATCH_SIZE), s.get(SparkMpConf.SHUFFLE), s.get(SparkMpConf.SEED), conf.getDataType());
        }
        return new TrainingInput.Routed(TrainingInput.route(data, s.get(SparkMpConf.STAGES), s.get(SparkMpConf.SHUFFLE),
                s.get(SparkMpConf.SEED), conf.getDataType()), -1);
    }

    private TrainingResult run(SparkContext sc, Launch l, TrainingInput.Routed input) {
        JobSpec spec = l.spec();
        TrainingSettings s = l.s();
        int stages = s.get(SparkMpConf.STAGES);
        int ranks = stages * s.get(SparkMpConf.REPLICAS);
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(sc);
        Broadcast<byte[]> specB = jsc.broadcast(JavaBytes.of(spec));
        ProgressAccumulator progress = new ProgressAccumulator();
        sc.register(progress, "spark-mp progress " + spec.jobId());
        String description = "spark-mp pipeline training " + spec.jobId();
        int lossRank = spec.graphOrNull() != null ? StepReport.SUM_OF_RANKS : stages - 1;
        ProgressListener listener = new ProgressListener(progress.id(), ranks, lossRank,
                s.get(SparkMpConf.LOG_EVERY), progressSink, description, sc.getConf().getInt("spark.stage.maxConsecutiveAttempts", 4),
                spec.store().checkpoints().on());
        sc.addSparkListener(listener);
        long t0 = System.nanoTime();
        try (FitStores stores = l.stores()) {
            sc.setJobDescription(description);
            PipelineTask task = new PipelineTask(specB, progress, engine.channels(), engine.runners());
            RDD<byte[]> trained = input.rows().rdd().barrier().mapPartitions(task, false,
                    ClassTag$.MODULE$.apply(byte[].class));
            // The shuffle after the barrier stage makes it a ShuffleMapStage, which Spark retries as a whole
            // when a task fails (a failed barrier ResultStage would abort the job).
            List<TaskResult> results = new ArrayList<>();
            for (byte[] b : JavaRDD.fromRDD(trained, ClassTag$.MODULE$.apply(byte[].class)).repartition(1).collect()) {
                results.add(JavaBytes.read(b, TaskResult.class));
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            return result(results, s, spec, stores, sc, seconds, input.examples()).withFailures(listener.failures());
        } finally {
            sc.setJobDescription(null);
            sc.removeSparkListener(listener);
            specB.destroy();
        }
    }

    /** @param routedExamples examples per epoch as counted by the route, or -1: as the readers counted them */
    private TrainingResult result(List<TaskResult> results, TrainingSettings s, JobSpec spec, FitStores stores,
                                  SparkContext sc, double seconds, long routedExamples) {
        int stages = s.get(SparkMpConf.STAGES);
        Topology topology = spec.topology();
        if (results.size() != topology.ranks()) {
            throw new IllegalStateException("expected " + topology.ranks() + " task results, got " + results.size());
        }
        Map<Long, List<RankStep>> byStep = new TreeMap<>();
        long examples = 0;
        long dropped = 0;
        for (TaskResult t : results) {
            for (RankStep rs : t.steps()) {
                byStep.computeIfAbsent(rs.step(), k -> new ArrayList<>()).add(rs);
            }
            if (topology.readsData(t.rank())) { // stage 0 of each replica: its share of the examples
                examples += t.examples();
                dropped += t.droppedExamples();
            }
        }
        if (routedExamples >= 0) { // the route left out the partial last mini-batch before the replicas read
            dropped = routedExamples - examples;
            examples = routedExamples;
        }
        List<StepReport> metrics = new ArrayList<>();
        for (List<RankStep> step : byStep.values()) {
            metrics.add(StepReport.merge(step, spec.graphOrNull() != null ? StepReport.SUM_OF_RANKS : stages - 1));
        }
        StoreManifest manifest = stores.commit(spec.modelJson(), results, spec.seed(), spec.boundaries(), spec.jobId());
        if (dropped > 0) {
            LOG.warn("spark-mp: {} of {} examples per epoch were in a partial last mini-batch and not trained on",
                    dropped, examples);
        }
        List<Long> skipped = metrics.stream().filter(StepReport::skipped).map(StepReport::step).toList();
        if (!skipped.isEmpty()) {
            LOG.warn("spark-mp: {} of {} steps were skipped on every stage for a non-finite gradient "
                    + "(spark.mp.nonFinite=skip): steps {}", skipped.size(), metrics.size(), skipped);
        }
        TrainingResult out = new TrainingResult(stores.output(), stores.scratchOutput(), manifest,
                sc.hadoopConfiguration(), metrics, examples, dropped, seconds, null, null)
                .withTimeline(TimelineCapture.of(results.stream().filter(t -> topology.replica(t.rank()) == 0)
                        .map(TaskResult::timelineOrNull).toList())); // one replica's pipeline: the others run the same
        LOG.info("spark-mp: trained {} steps in {} s ({} samples/s), final loss {}; model ({} MiB) in {}{}",
                metrics.size(), String.format("%.1f", seconds), String.format("%.1f", out.samplesPerSecond()),
                metrics.isEmpty() ? "n/a" : metrics.get(metrics.size() - 1).loss(), manifest.layerBytes() >> 20,
                stores.output(), stores.scratchOutput() ? " (scratch, deleted when the driver exits)" : "");
        return out;
    }

    /** The broadcast spec; constructing the PipelineSpec checks the model against the split (driver side). */
    private JobSpec jobSpec(String jobId, TrainingSettings s, int[] boundaries, boolean[] recompute, JobStore store) {
        PipelineSpec pipeline = PipelineSpec.of(conf, boundaries, s.get(SparkMpConf.SCHEDULE),
                s.get(SparkMpConf.STAGES), s.get(SparkMpConf.STAGES_PER_DEVICE), s.get(SparkMpConf.MICRO_BATCHES),
                s.get(SparkMpConf.BATCH_SIZE), s.get(SparkMpConf.SEED)).withRecompute(recompute)
                .withReplicas(s.get(SparkMpConf.REPLICAS))
                .withDeferredWeightGradients(s.get(SparkMpConf.DEFER_WEIGHT_GRADIENTS));
        pipeline.buildSchedule(); // the executed schedule, validated on the driver before launch
        String timelinePath = s.get(SparkMpConf.TIMELINE_PATH);
        return new JobSpec(jobId, pipeline, s.get(SparkMpConf.EPOCHS), s.get(SparkMpConf.SHUFFLE),
                s.get(SparkMpConf.CONNECT_TIMEOUT), s.get(SparkMpConf.IO_TIMEOUT), s.get(SparkMpConf.BIND_HOST),
                s.get(SparkMpConf.TLS_ENABLED), s.get(SparkMpConf.TLS_KEY_STORE), engine.newSecret(), store,
                TimelineCapture.sampling(timelinePath, s.conf()), s.get(SparkMpConf.NON_FINITE),
                s.get(SparkMpConf.BARRIER_TIMEOUT));
    }

    static int layerCount(MultiLayerConfiguration conf) {
        return conf.getConfs().size();
    }

    /** What a row of features must hold for the model ({@link ModelInput}), or null when the model does not tell. */
    static ModelInput modelInput(MultiLayerConfiguration conf) {
        return ModelInput.of(conf);
    }

    /**
     * Feature values per example the model's input type fixes ({@link ModelInput#fixedWidth}: convolutional-flat,
     * embedding index columns, a dense first layer's nIn), or -1 when it does not (recurrent inputs, unknown).
     */
    public static int inputWidth(MultiLayerConfiguration conf) {
        ModelInput input = ModelInput.of(conf);
        return input == null ? -1 : Math.toIntExact(input.fixedWidth());
    }

    /** The rules between settings once the plan fixed them: each checked once, with one message. */
    private void validate(TrainingSettings s) {
        checkCrossFields(s.get(SparkMpConf.STAGES), s.get(SparkMpConf.STAGES_PER_DEVICE),
                s.get(SparkMpConf.MICRO_BATCHES), s.get(SparkMpConf.SCHEDULE), s.get(SparkMpConf.BATCH_SIZE),
                layerCount(conf), s.get(SparkMpConf.REPLICAS));
        checkTls(s);
    }

    private static void checkTls(TrainingSettings s) {
        if (s.get(SparkMpConf.TLS_ENABLED) && s.get(SparkMpConf.TLS_KEY_STORE).isEmpty()) {
            throw new IllegalArgumentException("`spark.mp.transport.tls.enabled` is true but "
                    + "`spark.mp.transport.tls.keyStore` is not set");
        }
    }

    static FitStores.Settings storeSettings(TrainingSettings s) {
        return new FitStores.Settings(s.get(SparkMpConf.OUTPUT), s.get(SparkMpConf.OUTPUT_OVERWRITE),
                s.get(SparkMpConf.SCRATCH_DIR), s.get(SparkMpConf.INIT_FROM), s.get(SparkMpConf.RESUME_FROM),
                s.get(SparkMpConf.CHECKPOINT_DIR), s.get(SparkMpConf.CHECKPOINT_EVERY),
                s.get(SparkMpConf.CHECKPOINT_KEEP), s.get(SparkMpConf.TEST_FAULT), s.get(SparkMpConf.EPOCHS));
    }

    /** Cross-field rules; a null argument means "not known yet" and skips the rules that need it. */
    static void checkCrossFields(Integer stages, Integer stagesPerDevice, Integer microBatches, ScheduleKind schedule,
                                 Integer batchSize, int layers, Integer replicas) {
        if (microBatches != null && batchSize != null) {
            PipelineRules.requireReplicasDivide(replicas == null ? 1 : replicas, microBatches, batchSize);
        } else if (replicas != null && batchSize != null) {
            PipelineRules.requireReplicasDivide(replicas, 1, batchSize);
        }
        if (stagesPerDevice != null && schedule != null) {
            PipelineRules.requireStagesPerDevice(schedule, stagesPerDevice);
        }
        if (stages != null) {
            PipelineRules.requireLayersPerStage(stages, stagesPerDevice == null ? 1 : stagesPerDevice, layers);
        }
    }

    /**
     * Collects the settings of one {@link PipelineTrainer}. Each value may be set once (a second call
     * throws); {@link #build()} checks the rules between values that were set and does not change the
     * builder.
     */
    public static final class Builder {
        private final MultiLayerConfiguration conf;
        private final ComputationGraphConfiguration graph;
        private InputType[] graphInputTypes;
        private String[] featureColumns;
        private String[] labelColumns;
        private int[] labelClasses;
        private final Map<ConfEntry<?>, Object> settings = new HashMap<>();
        private MultiLayerNetwork initialNetwork;
        private Consumer<StepReport> progressSink;
        private EngineBridge engine = EngineBridge.DEFAULT;
        private int[] boundaries;
        private String[] boundaryNames;
        private ProfileMode profileMode;
        private InputType inputType;

        private Builder(MultiLayerConfiguration conf, ComputationGraphConfiguration graph) {
            this.conf = conf;
            this.graph = graph;
        }

        /** A graph-only setting: refused on a MultiLayerNetwork trainer; once only. */
        private void graphOnly(String setting, Object current) {
            if (graph == null) {
                throw new IllegalStateException(setting + " is for ComputationGraph trainers; a network takes "
                        + "fit(df, featuresCol, labelCol, numClasses)");
            }
            if (current != null) {
                throw new IllegalStateException(setting + " was already set");
            }
        }

        /** For {@link #fit(Dataset)}: the features column of each graph input, in the graph's input order. */
        public Builder featureColumns(String... columns) {
            graphOnly("featureColumns", featureColumns);
            featureColumns = columns == null ? new String[0] : columns.clone();
            return this;
        }

        /** For {@link #fit(Dataset)}: the label column of each graph output, in the graph's output order. */
        public Builder labelColumns(String... columns) {
            graphOnly("labelColumns", labelColumns);
            labelColumns = columns == null ? new String[0] : columns.clone();
            return this;
        }

        /** For {@link #fit(Dataset)}: per label column its class count K (one-hot labels), or 0 for regression. */
        public Builder labelClasses(int... classes) {
            graphOnly("labelClasses", labelClasses);
            labelClasses = classes == null ? new int[0] : classes.clone();
            return this;
        }

        /** The columns for {@link #fit(Dataset)}, or null when none were named. */
        private GraphRows graphRows() {
            if (featureColumns == null && labelColumns == null && labelClasses == null) {
                return null;
            }
            if (featureColumns == null || labelColumns == null || labelClasses == null) {
                throw new IllegalArgumentException("name featureColumns, labelColumns and labelClasses together, found "
                        + (featureColumns == null ? "no " : "") + "featureColumns, " + (labelColumns == null ? "no " : "")
                        + "labelColumns, " + (labelClasses == null ? "no " : "") + "labelClasses");
            }
            GraphRows rows = new GraphRows(featureColumns, labelColumns, labelClasses);
            rows.checkAgainst(graph);
            return rows;
        }

        /** A setting a ComputationGraph trainer does not take: refused when it is given. */
        private void refuseForGraph(String setting) {
            if (graph != null) {
                throw new IllegalArgumentException(setting + " is not supported for ComputationGraph pipelines yet");
            }
        }

        /**
         * The types of a ComputationGraph's inputs, in its input order, for planning; by default each input's is read
         * from the shape of its features in the first training element (rank 2 feed-forward, 3 recurrent, 4 NCHW).
         */
        public Builder inputTypes(InputType... types) {
            if (graph == null) {
                throw new IllegalStateException("inputTypes is for ComputationGraph trainers; use inputType");
            }
            if (graphInputTypes != null) {
                throw new IllegalStateException("inputTypes was already set to " + java.util.Arrays.toString(graphInputTypes));
            }
            if (types == null || types.length != graph.getNetworkInputs().size()) {
                throw new IllegalArgumentException("inputTypes gives " + (types == null ? 0 : types.length)
                        + " types, the graph has " + graph.getNetworkInputs().size() + " inputs " + graph.getNetworkInputs());
            }
            graphInputTypes = types.clone();
            return this;
        }

        private <T> Builder set(ConfEntry<T> e, T value) {
            if (settings.containsKey(e)) {
                throw new IllegalStateException(name(e) + " was already set to "
                        + (settings.get(e) == null ? "auto" : settings.get(e)));
            }
            try {
                settings.put(e, e.validate(value));
            } catch (IllegalArgumentException bad) {
                throw new IllegalArgumentException(name(e) + " " + bad.getMessage().replaceFirst("^`[^`]*` ", ""));
            }
            return this;
        }

        private static String name(ConfEntry<?> e) {
            return e.key().substring("spark.mp.".length());
        }

        /** Pipeline stages P (barrier tasks, devices); at most the layer count (see {@link SparkMpConf#STAGES}). */
        public Builder stages(int p) {
            return set(SparkMpConf.STAGES, p);
        }

        /**
         * Data-parallel replicas R of the pipeline (default {@code spark.mp.replicas}, whose default is auto: the
         * planner chooses): P x R tasks, each replica training its share {@code batchSize / R} of every mini-batch;
         * R x microBatches must divide the batch size. {@code replicas(1)} keeps a pure pipeline on a cluster with
         * more executor slots than stages.
         */
        public Builder replicas(int r) {
            return set(SparkMpConf.REPLICAS, r);
        }

        /**
         * Lets the planner choose R (as {@code spark.mp.replicas=auto}, over a number in the session's conf): P and R
         * together from the executor slots by predicted step under the memory budget; R = 1 for a model with
         * BatchNormalization or a batch that no R &gt; 1 divides. The plan's explain says which R and why.
         */
        public Builder replicasAuto() {
            if (settings.containsKey(SparkMpConf.REPLICAS)) {
                throw new IllegalStateException(name(SparkMpConf.REPLICAS) + " was already set to "
                        + (settings.get(SparkMpConf.REPLICAS) == null ? "auto" : settings.get(SparkMpConf.REPLICAS)));
            }
            settings.put(SparkMpConf.REPLICAS, null);
            return this;
        }

        /** Micro-batches per mini-batch; must divide the batch size. */
        public Builder microBatches(int m) {
            return set(SparkMpConf.MICRO_BATCHES, m);
        }

        /** Virtual stages per device (interleaved schedule only, then >= 2). */
        public Builder stagesPerDevice(int v) {
            return set(SparkMpConf.STAGES_PER_DEVICE, v);
        }

        /** The pipeline schedule. */
        public Builder schedule(ScheduleKind kind) {
            return set(SparkMpConf.SCHEDULE, kind);
        }

        /** Activation recomputation: auto (the planner decides per stage), always or never. */
        public Builder recompute(io.sparkmp.plan.RecomputeMode mode) {
            refuseForGraph("recompute (graph stages keep received tensors and recompute forwards)");
            return set(SparkMpConf.RECOMPUTE, mode);
        }

        /** Examples per mini-batch (optimizer step). */
        public Builder batchSize(int n) {
            return set(SparkMpConf.BATCH_SIZE, n);
        }

        /** Passes over the data. */
        public Builder epochs(int n) {
            return set(SparkMpConf.EPOCHS, n);
        }

        /** Seed of shuffling (and of the engine's deterministic initialisation and dropout). */
        public Builder seed(long seed) {
            return set(SparkMpConf.SEED, seed);
        }

        /** Shuffle examples once and mini-batches every epoch; off keeps the input order. */
        public Builder shuffle(boolean shuffle) {
            return set(SparkMpConf.SHUFFLE, shuffle);
        }

        /** One live progress line every {@code n} steps on the driver; 0 turns the lines off. */
        public Builder logEvery(int n) {
            return set(SparkMpConf.LOG_EVERY, n);
        }

        /**
         * Records the timeline of the sampled steps and writes its report to this local file on the driver after
         * {@code fit} (see {@link SparkMpConf#TIMELINE_PATH}; sampling from {@code spark.mp.timeline.*}).
         */
        public Builder timeline(String htmlFile) {
            return set(SparkMpConf.TIMELINE_PATH, htmlFile);
        }

        /**
         * Starts from this network's parameters (and updater state and iteration count, when it has them)
         * instead of a seeded initialisation. It must be the configuration's model; it is not modified. It is
         * written once per layer to a scratch store, from which each rank reads only its own layers.
         */
        public Builder initialParameters(MultiLayerNetwork network) {
            refuseForGraph("initialParameters");
            if (initialNetwork != null) {
                throw new IllegalStateException("initialParameters was already set");
            }
            if (network == null) {
                throw new IllegalArgumentException("initialParameters must not be null");
            }
            if (settings.containsKey(SparkMpConf.INIT_FROM)) {
                throw new IllegalStateException("give initFrom or initialParameters, not both");
            }
            if (network.getLayers().length != layerCount(conf)) {
                throw new IllegalArgumentException("initialParameters has " + network.getLayers().length
                        + " layers, the configuration has " + layerCount(conf));
            }
            initialNetwork = network;
            return this;
        }

        /**
         * Where the tasks write the trained model: a per-layer store (a directory on any Hadoop FileSystem URI;
         * see {@link SparkMpConf#OUTPUT}). Checked before training: it must be writable, and empty unless
         * {@link #overwrite}. Unset: a scratch store, deleted when the driver exits.
         */
        public Builder output(java.net.URI store) {
            if (store == null) {
                throw new IllegalArgumentException("output must not be null");
            }
            return set(SparkMpConf.OUTPUT, store.toString());
        }

        /** Replace an existing store at {@link #output} (default false: a non-empty output fails the fit). */
        public Builder overwrite(boolean overwrite) {
            return set(SparkMpConf.OUTPUT_OVERWRITE, overwrite);
        }

        /**
         * Starts from a per-layer store (each rank reads only its own layers, with updater state and the
         * iteration and epoch counts, so training continues exactly) or a DL4J model zip (ending in
         * {@code .zip}; split once into a scratch store). Not together with {@link #initialParameters}.
         */
        public Builder initFrom(java.net.URI storeOrZip) {
            if (storeOrZip == null) {
                throw new IllegalArgumentException("initFrom must not be null");
            }
            if (initialNetwork != null) {
                throw new IllegalStateException("give initFrom or initialParameters, not both");
            }
            return set(SparkMpConf.INIT_FROM, storeOrZip.toString());
        }

        /**
         * Continues a run from a checkpoint directory (its newest complete checkpoint) or a store, at the data
         * position it records; {@link #epochs} is then the total. Not together with {@link #initFrom} or
         * {@link #initialParameters}.
         */
        public Builder resumeFrom(java.net.URI checkpointDirOrStore) {
            if (checkpointDirOrStore == null) {
                throw new IllegalArgumentException("resumeFrom must not be null");
            }
            return set(SparkMpConf.RESUME_FROM, checkpointDirOrStore.toString());
        }

        /**
         * Checkpoints into {@code dir} after every {@code everySteps} optimizer steps (0: only when training
         * ends); a retried barrier stage resumes from the newest complete one (see {@link SparkMpConf#CHECKPOINT_DIR}).
         */
        public Builder checkpoint(java.net.URI dir, int everySteps) {
            if (dir == null) {
                throw new IllegalArgumentException("checkpoint dir must not be null");
            }
            set(SparkMpConf.CHECKPOINT_DIR, dir.toString());
            return set(SparkMpConf.CHECKPOINT_EVERY, everySteps);
        }

        /** Receives the live progress records (instead of the driver log); called on Spark's listener thread. */
        public Builder progressListener(Consumer<StepReport> sink) {
            if (progressSink != null) {
                throw new IllegalStateException("progressListener was already set");
            }
            progressSink = sink;
            return this;
        }

        /**
         * Splits the model by hand at layer indices {@code [0, b1, ..., L]} (strictly increasing, P x v + 1
         * values) instead of asking the planner; not together with {@link #boundaryNames}.
         */
        public Builder boundaries(int... layerIndices) {
            if (boundaries != null) {
                throw new IllegalStateException("boundaries was already set to " + java.util.Arrays.toString(boundaries));
            }
            if (layerIndices == null) {
                throw new IllegalArgumentException("boundaries must not be null");
            }
            boundaries = layerIndices.clone();
            return this;
        }

        /**
         * Splits the model by hand: each name is the first layer of a new stage, in forward order (layer 0 is
         * not named). Names are the layers' configured names, or {@code layer<i>} for unnamed ones.
         */
        public Builder boundaryNames(String... firstLayerOfEachLaterStage) {
            if (boundaryNames != null) {
                throw new IllegalStateException("boundaryNames was already set to "
                        + java.util.Arrays.toString(boundaryNames));
            }
            if (firstLayerOfEachLaterStage == null) {
                throw new IllegalArgumentException("boundaryNames must not be null");
            }
            boundaryNames = firstLayerOfEachLaterStage.clone();
            return this;
        }

        /** Where the planner's layer times come from (default {@code spark.mp.plan.profile}, measured). */
        public Builder profile(ProfileMode mode) {
            if (profileMode != null) {
                throw new IllegalStateException("profile was already set to " + profileMode.label());
            }
            if (mode == null) {
                throw new IllegalArgumentException("profile must not be null");
            }
            profileMode = mode;
            return this;
        }

        /**
         * The model's input type, for planning (profiling needs the input shape). Needed only when the first
         * layer does not tell it (e.g. convolution) and the data cannot: {@code plan(SparkContext)} of such a
         * model.
         */
        public Builder inputType(InputType type) {
            refuseForGraph("inputType (give a graph's with inputTypes)");
            if (inputType != null) {
                throw new IllegalStateException("inputType was already set to " + inputType);
            }
            if (type == null) {
                throw new IllegalArgumentException("inputType must not be null");
            }
            inputType = type;
            return this;
        }

        private PlanChoices planChoices() {
            return new PlanChoices(boundaries, boundaryNames, profileMode, inputType);
        }

        /**
         * What a step with a NaN or infinite gradient does: {@code FAIL} (default) stops training naming the step,
         * stage and layer; {@code SKIP} leaves the step's update out on every stage (see {@link SparkMpConf#NON_FINITE}).
         */
        public Builder nonFinite(io.sparkmp.runtime.NonFinitePolicy policy) {
            if (policy == null) {
                throw new IllegalArgumentException("nonFinite must not be null");
            }
            return set(SparkMpConf.NON_FINITE, policy);
        }

        /**
         * Longest wait of a task at one barrier {@code allGather} for every rank to arrive (see
         * {@link SparkMpConf#BARRIER_TIMEOUT}); must be positive.
         */
        public Builder barrierTimeout(java.time.Duration timeout) {
            if (timeout == null || timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("barrierTimeout must be positive, found " + timeout);
            }
            return set(SparkMpConf.BARRIER_TIMEOUT, timeout.toMillis());
        }

        /** How many of the newest complete checkpoints are kept (default 2). */
        public Builder checkpointsKept(int n) {
            return set(SparkMpConf.CHECKPOINT_KEEP, n);
        }

        /** Injects a fault on the first stage attempt (tests of recovery; see {@link SparkMpConf#TEST_FAULT}). */
        Builder fault(String fault) {
            return set(SparkMpConf.TEST_FAULT, fault);
        }

        /** Replaces the engine and transport (tests of the task lifecycle). */
        Builder engine(EngineBridge bridge) {
            engine = bridge;
            return this;
        }

        /**
         * Checks the rules between the values set so far (others are checked at {@code fit}, once the
         * SparkConf is known) and returns an immutable trainer.
         *
         * @throws IllegalArgumentException e.g. "microBatches (3) must divide batchSize (64)"
         */
        public PipelineTrainer build() {
            if (graph != null) {
                int vertices = io.sparkmp.model.GraphSlicer.order(graph).size();
                checkCrossFields((Integer) settings.get(SparkMpConf.STAGES),
                        (Integer) settings.get(SparkMpConf.STAGES_PER_DEVICE),
                        (Integer) settings.get(SparkMpConf.MICRO_BATCHES), (ScheduleKind) settings.get(SparkMpConf.SCHEDULE),
                        (Integer) settings.get(SparkMpConf.BATCH_SIZE), vertices, (Integer) settings.get(SparkMpConf.REPLICAS));
                GraphFit.refuseUnsupported(TrainingSettings.of(settings, SparkMpConf.from(new org.apache.spark.SparkConf(false))));
                graphRows(); // column counts against the graph's inputs and outputs
                return new PipelineTrainer(this);
            }
            ModelSlicer.validate(conf); // unsupported layers and the like: a driver-side error before any job
            checkCrossFields((Integer) settings.get(SparkMpConf.STAGES),
                    (Integer) settings.get(SparkMpConf.STAGES_PER_DEVICE),
                    (Integer) settings.get(SparkMpConf.MICRO_BATCHES), (ScheduleKind) settings.get(SparkMpConf.SCHEDULE),
                    (Integer) settings.get(SparkMpConf.BATCH_SIZE), layerCount(conf),
                    (Integer) settings.get(SparkMpConf.REPLICAS));
            planChoices().check(conf, (Integer) settings.get(SparkMpConf.STAGES),
                    (Integer) settings.get(SparkMpConf.STAGES_PER_DEVICE));
            return new PipelineTrainer(this);
        }
    }
}
