package io.sparkmp.spark;

import io.sparkmp.model.ModelInput;
import io.sparkmp.model.ModelSlicer;

import io.sparkmp.plan.PipelinePlan;
import io.sparkmp.runtime.PipelineSpec;
import io.sparkmp.runtime.TimelineSampling;
import io.sparkmp.schedule.ScheduleKind;
import io.sparkmp.store.StoreManifest;
import org.apache.spark.SparkContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.rdd.RDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.dataset.DataSet;
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
 * time next to the measured one ({@link TrainingResult#planAccuracy()}). Data-parallel replicas are not
 * supported yet: plans always have R = 1.
 *
 * <p>Misuse: the cluster must offer P task slots at once (one per stage) with dynamic allocation off,
 * else {@code fit} fails before launching; do not call {@code fit} concurrently on one SparkContext with
 * other barrier jobs that need the same slots. A trainer is immutable and may be reused for several fits.
 */
public final class PipelineTrainer {
    private static final Logger LOG = LoggerFactory.getLogger(PipelineTrainer.class);

    private final MultiLayerConfiguration conf;
    private final Map<ConfEntry<?>, Object> settings;
    private final MultiLayerNetwork initialNetwork;
    private final Consumer<StepReport> progressSink;
    private final EngineBridge engine;
    private final PlanChoices planChoices;

    private PipelineTrainer(Builder b) {
        this.planChoices = b.planChoices();
        this.conf = b.conf;
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
        return new Builder(conf);
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
        SparkContext sc = data.context();
        Launch l = launchable(sc, data);
        return l.finish(run(sc, l, TrainingInput.route(data, l.r().stages, l.r().shuffle, l.r().seed)));
    }

    /**
     * Dry run: the plan {@code fit(data)} would follow, without training (the profiling job runs when the
     * profile is measured and not cached). {@link PipelinePlan#explain()} prints it.
     *
     * @throws IllegalArgumentException for bad settings or a bad manual split
     * @throws io.sparkmp.plan.InfeasiblePlanException when no split fits the memory budget
     */
    public PipelinePlan plan(JavaRDD<DataSet> data) {
        return PlanResolver.plan(data.context(), conf, settings, SparkMpConf.from(data.context().getConf()),
                planChoices, data);
    }

    /** Dry run on rows, with the columns of {@link #fit(Dataset, String, String, int)} (checked the same way). */
    public PipelinePlan plan(Dataset<Row> data, String featuresCol, String labelCol, int numClasses) {
        TrainingInput.checkRows(data, featuresCol, labelCol, numClasses);
        return plan(TrainingInput.fromRows(data, featuresCol, labelCol, numClasses, inputWidth(conf),
                TrainingInput.ROW_CHUNK));
    }

    /**
     * Dry run without data: as {@link #plan(JavaRDD)}; the model's input shape must come from its first layer
     * (a feed-forward layer with nIn) or {@link Builder#inputType}.
     */
    public PipelinePlan plan(SparkContext sc) {
        return PlanResolver.plan(sc, conf, settings, SparkMpConf.from(sc.getConf()), planChoices, null);
    }

    /**
     * Trains on rows: {@code featuresCol} an ML {@code Vector}, a numeric array or a number; {@code labelCol}
     * a class index in {@code [0, numClasses)} (one-hot encoded) or, with {@code numClasses = 0}, a numeric
     * regression target (number, array or Vector). Row order is kept when shuffling is off.
     *
     * @throws IllegalArgumentException for bad settings, missing columns, unusable types or labels outside
     *                                  [0, numClasses), checked on the driver before training
     * @throws IllegalStateException when the cluster lacks slots or has dynamic allocation on (before launch)
     */
    public TrainingResult fit(Dataset<Row> data, String featuresCol, String labelCol, int numClasses) {
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
        JavaRDD<DataSet> rows = TrainingInput.fromRows(data, featuresCol, labelCol, numClasses, inputWidth(conf),
                TrainingInput.ROW_CHUNK);
        if (l == null) {
            l = launchable(sc, rows);
        }
        return l.finish(run(sc, l, TrainingInput.route(rows, l.r().stages, l.r().shuffle, l.r().seed)));
    }

    /** A fit ready to launch: its plan, effective settings and job spec. */
    private record Launch(PipelinePlan plan, Resolved r, JobSpec spec, FitStores stores) {
        /** The result with the plan and its accuracy (logged). */
        TrainingResult finish(TrainingResult result) {
            TrainingResult out = PlanReport.attach(result, plan);
            TimelineCapture.writeIfAsked(r.timelinePath, out, LOG);
            return out;
        }
    }

    /**
     * Every check that needs no training pass, in order: settings, the plan (profiling job when measured and
     * not cached; {@code dataOrNull} only to read the input shape), the split against the model, cluster slots.
     * Logs the plan.
     */
    private Launch launchable(SparkContext sc, JavaRDD<DataSet> dataOrNull) {
        SparkMpConf mp = SparkMpConf.from(sc.getConf());
        new Resolved(settings, mp).checkTls();
        PipelinePlan plan = PlanResolver.plan(sc, conf, settings, mp, planChoices, dataOrNull);
        Resolved r = resolve(PlanReport.settingsOf(settings, plan), mp);
        ClusterCheck.requireSlots(sc, r.stages, r.slotWaitMs);
        String jobId = UUID.randomUUID().toString();
        FitStores stores = FitStores.prepare(sc.hadoopConfiguration(), conf, jobId, r.storeSettings(), initialNetwork,
                r.seed);
        JobSpec spec = jobSpec(jobId, r, plan.boundaries(), plan.recomputePerStage(), stores.jobStore());
        PlanReport.logPlan(plan);
        LOG.info("spark-mp: training {}", spec);
        return new Launch(plan, r, spec, stores);
    }

    private TrainingResult run(SparkContext sc, Launch l, JavaRDD<byte[]> input) {
        JobSpec spec = l.spec();
        Resolved r = l.r();
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(sc);
        Broadcast<byte[]> specB = jsc.broadcast(JavaBytes.of(spec));
        ProgressAccumulator progress = new ProgressAccumulator();
        sc.register(progress, "spark-mp progress " + spec.jobId());
        String description = "spark-mp pipeline training " + spec.jobId();
        ProgressListener listener = new ProgressListener(progress.id(), r.stages, r.stages - 1,
                r.logEvery, progressSink, description, sc.getConf().getInt("spark.stage.maxConsecutiveAttempts", 4),
                spec.store().checkpoints().on());
        sc.addSparkListener(listener);
        long t0 = System.nanoTime();
        try (FitStores stores = l.stores()) {
            sc.setJobDescription(description);
            PipelineTask task = new PipelineTask(specB, progress, engine.channels(), engine.runners());
            RDD<byte[]> trained = input.rdd().barrier().mapPartitions(task, false, ClassTag$.MODULE$.apply(byte[].class));
            // The shuffle after the barrier stage makes it a ShuffleMapStage, which Spark retries as a whole
            // when a task fails (a failed barrier ResultStage would abort the job).
            List<TaskResult> results = new ArrayList<>();
            for (byte[] b : JavaRDD.fromRDD(trained, ClassTag$.MODULE$.apply(byte[].class)).repartition(1).collect()) {
                results.add(JavaBytes.read(b, TaskResult.class));
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            return result(results, r, spec, stores, sc, seconds).withFailures(listener.failures());
        } finally {
            sc.setJobDescription(null);
            sc.removeSparkListener(listener);
            specB.destroy();
        }
    }

    private TrainingResult result(List<TaskResult> results, Resolved r, JobSpec spec, FitStores stores,
                                  SparkContext sc, double seconds) {
        if (results.size() != r.stages) {
            throw new IllegalStateException("expected " + r.stages + " task results, got " + results.size());
        }
        Map<Long, List<RankStep>> byStep = new TreeMap<>();
        long examples = 0;
        long dropped = 0;
        for (TaskResult t : results) {
            for (RankStep s : t.steps()) {
                byStep.computeIfAbsent(s.step(), k -> new ArrayList<>()).add(s);
            }
            if (t.rank() == 0) {
                examples = t.examples();
                dropped = t.droppedExamples();
            }
        }
        List<StepReport> metrics = new ArrayList<>();
        for (List<RankStep> step : byStep.values()) {
            metrics.add(StepReport.merge(step, r.stages - 1));
        }
        StoreManifest manifest = stores.commit(conf, results, r.seed, spec.boundaries(), spec.jobId());
        if (dropped > 0) {
            LOG.warn("spark-mp: {} of {} examples per epoch were in a partial last mini-batch and not trained on",
                    dropped, examples);
        }
        TrainingResult out = new TrainingResult(stores.output(), stores.scratchOutput(), manifest,
                sc.hadoopConfiguration(), metrics, examples, dropped, seconds, null, null)
                .withTimeline(TimelineCapture.of(results.stream().map(TaskResult::timelineOrNull).toList()));
        LOG.info("spark-mp: trained {} steps in {} s ({} samples/s), final loss {}; model ({} MiB) in {}{}",
                metrics.size(), String.format("%.1f", seconds), String.format("%.1f", out.samplesPerSecond()),
                metrics.isEmpty() ? "n/a" : metrics.get(metrics.size() - 1).loss(), manifest.layerBytes() >> 20,
                stores.output(), stores.scratchOutput() ? " (scratch, deleted when the driver exits)" : "");
        return out;
    }

    /** The broadcast spec; constructing the PipelineSpec checks the model against the split (driver side). */
    private JobSpec jobSpec(String jobId, Resolved r, int[] boundaries, boolean[] recompute, JobStore store) {
        PipelineSpec pipeline = PipelineSpec.of(conf, boundaries, r.schedule,
                r.stages, r.stagesPerDevice, r.microBatches, r.batchSize, r.seed).withRecompute(recompute);
        pipeline.buildSchedule(); // the executed schedule, validated on the driver before launch
        return new JobSpec(jobId, pipeline, r.epochs, r.shuffle, r.connectTimeoutMs,
                r.ioTimeoutMs, r.bindHost, r.tls, r.keyStore, engine.newSecret(), store, r.timeline);
    }

    static int layerCount(MultiLayerConfiguration conf) {
        return conf.getConfs().size();
    }

    /** What a row of features must hold for the model ({@link ModelInput}), or null when the model does not tell. */
    static ModelInput inputWidth(MultiLayerConfiguration conf) {
        return ModelInput.of(conf);
    }

    /** Builder values over spark.mp.* settings over defaults, checked together. */
    private Resolved resolve(Map<ConfEntry<?>, Object> values, SparkMpConf fromSpark) {
        Resolved r = new Resolved(values, fromSpark);
        r.validate(layerCount(conf));
        return r;
    }

    /** The effective settings of one fit. */
    private static final class Resolved {
        final int stages;
        final int stagesPerDevice;
        final int microBatches;
        final ScheduleKind schedule;
        final int batchSize;
        final int epochs;
        final long seed;
        final boolean shuffle;
        final int logEvery;
        final long slotWaitMs;
        final long connectTimeoutMs;
        final long ioTimeoutMs;
        final String bindHost;
        final boolean tls;
        final String keyStore;
        final String output;
        final boolean overwrite;
        final String scratchDir;
        final String initFrom;
        final String resumeFrom;
        final String checkpointDir;
        final int checkpointEvery;
        final int checkpointKeep;
        final String fault;
        final String timelinePath;
        final TimelineSampling timeline;

        Resolved(Map<ConfEntry<?>, Object> overrides, SparkMpConf conf) {
            stages = get(overrides, conf, SparkMpConf.STAGES);
            stagesPerDevice = get(overrides, conf, SparkMpConf.STAGES_PER_DEVICE);
            microBatches = get(overrides, conf, SparkMpConf.MICRO_BATCHES);
            schedule = get(overrides, conf, SparkMpConf.SCHEDULE);
            batchSize = get(overrides, conf, SparkMpConf.BATCH_SIZE);
            epochs = get(overrides, conf, SparkMpConf.EPOCHS);
            seed = get(overrides, conf, SparkMpConf.SEED);
            shuffle = get(overrides, conf, SparkMpConf.SHUFFLE);
            logEvery = get(overrides, conf, SparkMpConf.LOG_EVERY);
            slotWaitMs = conf.get(SparkMpConf.SLOT_WAIT);
            connectTimeoutMs = conf.get(SparkMpConf.CONNECT_TIMEOUT);
            ioTimeoutMs = conf.get(SparkMpConf.IO_TIMEOUT);
            bindHost = conf.get(SparkMpConf.BIND_HOST);
            tls = conf.get(SparkMpConf.TLS_ENABLED);
            keyStore = conf.get(SparkMpConf.TLS_KEY_STORE);
            output = get(overrides, conf, SparkMpConf.OUTPUT);
            overwrite = get(overrides, conf, SparkMpConf.OUTPUT_OVERWRITE);
            scratchDir = conf.get(SparkMpConf.SCRATCH_DIR);
            initFrom = get(overrides, conf, SparkMpConf.INIT_FROM);
            timelinePath = get(overrides, conf, SparkMpConf.TIMELINE_PATH);
            timeline = TimelineCapture.sampling(timelinePath, conf);
            resumeFrom = get(overrides, conf, SparkMpConf.RESUME_FROM);
            checkpointDir = get(overrides, conf, SparkMpConf.CHECKPOINT_DIR);
            checkpointEvery = get(overrides, conf, SparkMpConf.CHECKPOINT_EVERY);
            checkpointKeep = get(overrides, conf, SparkMpConf.CHECKPOINT_KEEP);
            fault = get(overrides, conf, SparkMpConf.TEST_FAULT);
        }

        FitStores.Settings storeSettings() {
            return new FitStores.Settings(output, overwrite, scratchDir, initFrom, resumeFrom, checkpointDir,
                    checkpointEvery, checkpointKeep, fault, epochs);
        }

        @SuppressWarnings("unchecked")
        private static <T> T get(Map<ConfEntry<?>, Object> overrides, SparkMpConf conf, ConfEntry<T> e) {
            return overrides.containsKey(e) ? (T) overrides.get(e) : conf.get(e);
        }

        void validate(int layers) {
            checkCrossFields(stages, stagesPerDevice, microBatches, schedule, batchSize, layers);
            checkTls();
        }

        void checkTls() {
            if (tls && keyStore.isEmpty()) {
                throw new IllegalArgumentException("`spark.mp.transport.tls.enabled` is true but "
                        + "`spark.mp.transport.tls.keyStore` is not set");
            }
        }
    }

    /** Cross-field rules; a null argument means "not known yet" and skips the rules that need it. */
    static void checkCrossFields(Integer stages, Integer stagesPerDevice, Integer microBatches, ScheduleKind schedule,
                                 Integer batchSize, int layers) {
        if (microBatches != null && batchSize != null && batchSize % microBatches != 0) {
            throw new IllegalArgumentException("microBatches (" + microBatches + ") must divide batchSize ("
                    + batchSize + ")");
        }
        if (stagesPerDevice != null && schedule != null) {
            if (schedule == ScheduleKind.INTERLEAVED_1F1B && stagesPerDevice < 2) {
                throw new IllegalArgumentException("schedule interleaved needs stagesPerDevice >= 2, found "
                        + stagesPerDevice);
            }
            if (schedule != ScheduleKind.INTERLEAVED_1F1B && stagesPerDevice != 1) {
                throw new IllegalArgumentException("stagesPerDevice (" + stagesPerDevice + ") > 1 needs schedule "
                        + "interleaved, found " + schedule.label());
            }
        }
        if (stages != null) {
            int v = stagesPerDevice == null ? 1 : stagesPerDevice;
            if ((long) stages * v > layers) {
                throw new IllegalArgumentException("stages (" + stages + ")" + (v > 1 ? " x stagesPerDevice (" + v + ")" : "")
                        + " must be <= the model's layer count (" + layers + ")");
            }
        }
    }

    /**
     * Collects the settings of one {@link PipelineTrainer}. Each value may be set once (a second call
     * throws); {@link #build()} checks the rules between values that were set and does not change the
     * builder.
     */
    public static final class Builder {
        private final MultiLayerConfiguration conf;
        private final Map<ConfEntry<?>, Object> settings = new HashMap<>();
        private MultiLayerNetwork initialNetwork;
        private Consumer<StepReport> progressSink;
        private EngineBridge engine = EngineBridge.DEFAULT;
        private int[] boundaries;
        private String[] boundaryNames;
        private ProfileMode profileMode;
        private InputType inputType;

        private Builder(MultiLayerConfiguration conf) {
            this.conf = conf;
        }

        private <T> Builder set(ConfEntry<T> e, T value) {
            if (settings.containsKey(e)) {
                throw new IllegalStateException(name(e) + " was already set to " + settings.get(e));
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
            ModelSlicer.validate(conf); // unsupported layers and the like: a driver-side error before any job
            checkCrossFields((Integer) settings.get(SparkMpConf.STAGES),
                    (Integer) settings.get(SparkMpConf.STAGES_PER_DEVICE),
                    (Integer) settings.get(SparkMpConf.MICRO_BATCHES), (ScheduleKind) settings.get(SparkMpConf.SCHEDULE),
                    (Integer) settings.get(SparkMpConf.BATCH_SIZE), layerCount(conf));
            planChoices().check(conf, (Integer) settings.get(SparkMpConf.STAGES),
                    (Integer) settings.get(SparkMpConf.STAGES_PER_DEVICE));
            return new PipelineTrainer(this);
        }
    }
}
