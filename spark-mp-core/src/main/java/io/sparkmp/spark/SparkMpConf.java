package io.sparkmp.spark;

import io.sparkmp.schedule.ScheduleKind;
import org.apache.spark.SparkConf;
import org.apache.spark.network.util.JavaUtils;
import scala.Tuple2;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * Every {@code spark.mp.*} setting, declared once (key, doc, type, check, default), and a snapshot of
 * their values read from a {@link SparkConf}. Values set on {@link PipelineTrainer.Builder} win over
 * these; these win over the defaults.
 *
 * <p>Unknown {@code spark.mp.*} keys are rejected (a misspelt key would otherwise be silently ignored).
 */
public final class SparkMpConf {

    private static final Map<String, ConfEntry<?>> ENTRIES = new LinkedHashMap<>();
    /** Default text of the settings the planner chooses when unset. */
    private static final String PLANNER = "(planner)";

    /** Pipeline stages = devices = barrier tasks, P. */
    public static final ConfEntry<Integer> STAGES = plannedIntEntry("spark.mp.stages",
            "Pipeline stages P: one barrier task (one executor slot, one device) each. Unset: the planner chooses.", 1);
    /** Data-parallel replicas of the pipeline, R. */
    public static final ConfEntry<Integer> REPLICAS = register(new ConfEntry<>("spark.mp.replicas",
            "Data-parallel replicas R of the whole pipeline: P x R barrier tasks; each replica trains batchSize / R "
                    + "examples of every mini-batch (cut into the micro-batches) and every stage's gradients are summed "
                    + "across the replicas before its step, so training equals fit on the whole mini-batch. R x M must "
                    + "divide the batch size. auto: the planner chooses P and R together from the executor slots by "
                    + "predicted throughput under the memory budget (R = 1 when the model has BatchNormalization or "
                    + "no R > 1 divides the batch); the plan's explain says which R and why.", "int or auto",
            Integer::parseInt, v -> v >= 1, "must be >= 1", null, "auto", "auto"));
    /** Micro-batches per mini-batch, M. */
    public static final ConfEntry<Integer> MICRO_BATCHES = plannedIntEntry("spark.mp.microBatches",
            "Micro-batches M per mini-batch; must divide the batch size. Unset: the planner chooses.", 1);
    /** Virtual stages per device, v (interleaved schedule only). */
    public static final ConfEntry<Integer> STAGES_PER_DEVICE = plannedIntEntry("spark.mp.stagesPerDevice",
            "Virtual stages v per device for the interleaved schedule (1 for gpipe and 1f1b). Unset: the planner chooses.", 1);
    /** Pipeline schedule. */
    public static final ConfEntry<ScheduleKind> SCHEDULE = entry("spark.mp.schedule",
            "Pipeline schedule: gpipe, 1f1b or interleaved. Unset: the planner chooses (1f1b or interleaved).", "schedule (gpipe|1f1b|interleaved)",
            ScheduleKind::parse, v -> true, "", null, PLANNER);
    /** Activation recomputation. */
    public static final ConfEntry<io.sparkmp.plan.RecomputeMode> RECOMPUTE = entry("spark.mp.recompute",
            "Activation recomputation: auto (each stage keeps the activations of its micro-batches in flight where "
                    + "they fit its memory budget and recomputes forwards elsewhere), always, or never (a plan whose "
                    + "kept activations do not fit is rejected on the driver).", "auto|always|never",
            io.sparkmp.plan.RecomputeMode::parse, v -> true, "", io.sparkmp.plan.RecomputeMode.AUTO, "auto");
    /** Deferred weight gradients of dense layers. */
    public static final ConfEntry<Boolean> DEFER_WEIGHT_GRADIENTS = entry("spark.mp.deferWeightGradients",
            "With several micro-batches per step, each plain dense layer keeps every micro-batch's input and "
                    + "pre-activation gradient and forms its weight gradient once per step (one product over the whole "
                    + "mini-batch, as fit) instead of once per micro-batch: faster on CPUs, same training, and the stage "
                    + "holds (nIn + nOut) values per example and dense layer more until the step's last backward. "
                    + "false: per micro-batch.", "boolean",
            SparkMpConf::parseBoolean, v -> true, "", true, "true");
    /** Mini-batch size in examples. */
    public static final ConfEntry<Integer> BATCH_SIZE = intEntry("spark.mp.batchSize",
            "Examples per mini-batch (one optimizer step). A last partial mini-batch is dropped.", 32, 1);
    /** Passes over the training data. */
    public static final ConfEntry<Integer> EPOCHS = intEntry("spark.mp.epochs", "Passes over the training data.", 1, 1);
    /** Seed of parameter initialisation, dropout masks and shuffling. */
    public static final ConfEntry<Long> SEED = entry("spark.mp.seed",
            "Seed of parameter initialisation, dropout masks and shuffling.", "long", Long::parseLong,
            v -> true, "", 42L, "42");
    /** Shuffle the training examples. */
    public static final ConfEntry<Boolean> SHUFFLE = entry("spark.mp.shuffle",
            "Shuffle: examples are put in a seeded random order once, and the mini-batch order is reshuffled "
                    + "every epoch. Off: input order, as DL4J's own fit on the same data.", "boolean",
            SparkMpConf::parseBoolean, v -> true, "", false, "false");
    /** Log one progress line every N steps on the driver. */
    public static final ConfEntry<Integer> LOG_EVERY = intEntry("spark.mp.logEvery",
            "The driver logs one progress line every N optimizer steps (0: no live progress lines).", 10, 0);
    /** How long the driver waits for enough executor slots before failing. */
    public static final ConfEntry<Long> SLOT_WAIT = durationEntry("spark.mp.slotWaitTimeout",
            "How long the driver waits for P free executor slots to register before failing.", "15s");
    /** Channel connect timeout. */
    public static final ConfEntry<Long> CONNECT_TIMEOUT = durationEntry("spark.mp.transport.connectTimeout",
            "Timeout to connect and authenticate to a neighbour stage.", "30s");
    /** Channel receive/send timeout. */
    public static final ConfEntry<Long> IO_TIMEOUT = durationEntry("spark.mp.transport.ioTimeout",
            "Longest wait for one tensor from, or send queue slot to, a neighbour stage.", "300s");
    /** Host the channel server binds to. */
    public static final ConfEntry<String> BIND_HOST = entry("spark.mp.transport.bindHost",
            "Address the task's channel server binds to and advertises; empty: the executor's host.", "string",
            Function.identity(), v -> true, "", "", "");
    /** TLS on the channel. */
    public static final ConfEntry<Boolean> TLS_ENABLED = entry("spark.mp.transport.tls.enabled",
            "Encrypt the stage-to-stage channel with TLS (authentication by the job secret is always on).",
            "boolean", SparkMpConf::parseBoolean, v -> true, "", false, "false");
    /** Key store for TLS. */
    public static final ConfEntry<String> TLS_KEY_STORE = entry("spark.mp.transport.tls.keyStore",
            "Key store file (PKCS12/JKS) readable on every executor, for TLS.", "string",
            Function.identity(), v -> true, "", "", "");
    /** Key store password for TLS. */
    public static final ConfEntry<String> TLS_KEY_STORE_PASSWORD = entry("spark.mp.transport.tls.keyStorePassword",
            "Password of the TLS key store.", "string", Function.identity(), v -> true, "", "", "");
    /** Memory per device, for planning. */
    public static final ConfEntry<Long> DEVICE_MEMORY = entry("spark.mp.device.memory",
            "Memory budget of one device for planning (GPU memory, or off-heap for CPU), e.g. 16g; 0: derived from "
                    + "what an executor process really holds: its javacpp maxphysicalbytes cap (default twice the "
                    + "heap) less its resident bytes once ND4J is loaded (measured by a one-task probe job, or in "
                    + "the driver in local mode, where the ranks share it: divided by the task slots), less a "
                    + "128 MiB margin for what a training task adds beyond the estimate.", "bytes",
            s -> JavaUtils.byteStringAsBytes(s), v -> v >= 0, "must be >= 0", 0L, "0");
    /** Where the planner's layer times come from. */
    public static final ConfEntry<ProfileMode> PLAN_PROFILE = entry("spark.mp.plan.profile",
            "Layer times for the planner: measured (a one-task profiling job on an executor, cached) or analytic "
                    + "(FLOPs / spark.mp.plan.analyticFlops).", "measured|analytic", ProfileMode::parse, v -> true, "",
            ProfileMode.MEASURED, "measured");
    /** Folder for measured profiles. */
    public static final ConfEntry<String> PLAN_PROFILE_CACHE = entry("spark.mp.plan.profileCache",
            "Folder on the driver where measured profiles are kept as <cache key>.json and reused by later "
                    + "applications; empty: cached in driver memory only.", "string", Function.identity(), v -> true,
            "", "", "");
    /** Executor hardware name for the profile cache key. */
    public static final ConfEntry<String> PLAN_HARDWARE = entry("spark.mp.plan.hardware",
            "Names the executors' hardware in the profile cache key (e.g. `A100-40GB x1`); empty: the driver "
                    + "machine's CPU, cores and ND4J backend, right when executors run on the same kind of machine.",
            "string", Function.identity(), v -> true, "", "", "");
    /** Slowdown of a host's tasks computing at once, for planning; NaN: measured (auto). */
    public static final ConfEntry<Double> PLAN_HOST_SLOWDOWN = entry("spark.mp.plan.hostSlowdown",
            "How much longer a step's work takes while every task of one host computes at once (executors sharing a "
                    + "machine share its cores, caches and memory bandwidth): the simulated step slows the actions "
                    + "that the schedule makes overlap on one host. 1: nothing slowed. auto: measured before planning "
                    + "by a barrier job of a few seconds on every executor slot (the model cut into one part per task, "
                    + "timed alone, then all at once; README, Planner). Default 1: on the 2-core build VM the warm "
                    + "stages of the benchmark MLP slowed each other by 1.00-1.15 and charging it did not bring the "
                    + "predictions closer.", "double or auto", v -> v.trim().equals("auto") ? Double.NaN
                    : Double.parseDouble(v), v -> v.isNaN() || (v >= 1 && !v.isInfinite()), "must be auto or >= 1 and "
                    + "finite", 1.0, "1");
    /** Link bandwidth between stages, for planning. */
    public static final ConfEntry<Long> PLAN_BANDWIDTH = entry("spark.mp.plan.bandwidth",
            "Bandwidth of the link between two stages in bytes per second, for planning, e.g. 1g (10 GbE) or 10g.",
            "bytes/s", s -> JavaUtils.byteStringAsBytes(s), v -> v > 0, "must be > 0", 1L << 30, "1g");
    /** FLOP rate of a device for analytic profiles. */
    public static final ConfEntry<Double> PLAN_ANALYTIC_FLOPS = entry("spark.mp.plan.analyticFlops",
            "FLOP/s of one device for analytic layer times (spark.mp.plan.profile=analytic).", "double",
            Double::parseDouble, v -> v > 0 && !v.isInfinite(), "must be > 0 and finite", 1e10, "1e10");
    /** Fixed seconds per layer call for analytic profiles. */
    public static final ConfEntry<Double> PLAN_ANALYTIC_CALL_SECONDS = entry("spark.mp.plan.analyticCallSeconds",
            "Fixed seconds of one forward or backward call of a layer for analytic layer times, whatever the "
                    + "micro-batch (DL4J's and ND4J's cost per call beyond the arithmetic): the price the planner "
                    + "sees in more, smaller micro-batches when it sizes M. Default: about one call's cost on one core "
                    + "with one ND4J thread (README, Planner).", "double", Double::parseDouble, v -> v >= 0 && !v.isInfinite(),
            "must be >= 0 and finite", io.sparkmp.model.LayerProfiler.ANALYTIC_CALL_SECONDS,
            Double.toString(io.sparkmp.model.LayerProfiler.ANALYTIC_CALL_SECONDS));

    /** Where the trained model's per-layer store is written. */
    public static final ConfEntry<String> OUTPUT = entry("spark.mp.output",
            "Where each task writes its trained layers: a per-layer model store (a directory on any Hadoop "
                    + "FileSystem URI: file://, hdfs://, s3a://...; a path without scheme is on the default file "
                    + "system). Empty: a scratch store under spark.mp.scratchDir, deleted when the driver exits.",
            "URI", Function.identity(), v -> true, "", "", "");
    /** Replace a non-empty store at spark.mp.output. */
    public static final ConfEntry<Boolean> OUTPUT_OVERWRITE = entry("spark.mp.output.overwrite",
            "Replace an existing store at spark.mp.output (the old one stays readable until the new manifest is "
                    + "committed); false: a non-empty spark.mp.output fails the fit before training.", "boolean",
            SparkMpConf::parseBoolean, v -> true, "", false, "false");
    /** Where scratch stores go when spark.mp.output is empty. */
    public static final ConfEntry<String> SCRATCH_DIR = entry("spark.mp.scratchDir",
            "Directory (Hadoop FileSystem URI, readable by the driver and every executor) for scratch stores: the "
                    + "trained model when spark.mp.output is empty, and a DL4J zip or network given to start from, "
                    + "split once per layer. Empty: /tmp/spark-mp-<user> on the default file system.",
            "URI", Function.identity(), v -> true, "", "", "");
    /** Start from a store or a DL4J zip. */
    public static final ConfEntry<String> INIT_FROM = entry("spark.mp.initFrom",
            "Start training from this per-layer store (parameters, updater state, iteration and epoch counts; "
                    + "each task reads only its own layers) or DL4J model zip (split once into a scratch store). "
                    + "Empty: seeded initialisation.", "URI", Function.identity(), v -> true, "", "", "");
    /** Where the driver writes the timeline report; empty: no timeline. */
    public static final ConfEntry<String> TIMELINE_PATH = entry("spark.mp.timeline.path",
            "Local file on the driver where fit writes the timeline report (one self-contained HTML page: measured "
                    + "actions per stage of the sampled steps beside the plan's predicted step, bubble, loss and "
                    + "throughput per step). Empty: no timeline is recorded.", "string", Function.identity(),
            v -> true, "", "", "");
    /** First step of the timeline's consecutive run. */
    public static final ConfEntry<Integer> TIMELINE_FIRST_STEP = intEntry("spark.mp.timeline.firstStep",
            "First optimizer step of the consecutive run the timeline records (step 0 pays connection set-up and "
                    + "first allocations; the JIT warms up over the first few).", 1, 0);
    /** Consecutive steps the timeline records. */
    public static final ConfEntry<Integer> TIMELINE_STEPS = intEntry("spark.mp.timeline.steps",
            "Consecutive optimizer steps the timeline records, from spark.mp.timeline.firstStep.", 3, 0);
    /** Period of the timeline's later samples. */
    public static final ConfEntry<Integer> TIMELINE_EVERY = intEntry("spark.mp.timeline.every",
            "The timeline also records every N-th optimizer step (0: only the consecutive ones).", 100, 0);
    /** Cap on the events one rank records. */
    public static final ConfEntry<Integer> TIMELINE_MAX_EVENTS = intEntry("spark.mp.timeline.maxEvents",
            "Most timeline events one rank keeps (36 bytes each, allocated when the rank starts); later ones are "
                    + "counted as dropped.", 20_000, 1);

    /** Continue a previous run from its newest checkpoint or store. */
    public static final ConfEntry<String> RESUME_FROM = entry("spark.mp.resumeFrom",
            "Resume a run from a checkpoint directory (its newest complete checkpoint) or a store: layers, updater "
                    + "state and the data position (epoch, step in it); training continues to the end of epoch "
                    + "spark.mp.epochs, which is the total, not additional. The stage count may differ from the "
                    + "writer's. Empty: no resume.", "URI", Function.identity(), v -> true, "", "", "");
    /** Checkpoint directory. */
    public static final ConfEntry<String> CHECKPOINT_DIR = entry("spark.mp.checkpoint.dir",
            "Directory (any Hadoop FileSystem URI) for checkpoints, one per-layer store per checkpoint "
                    + "(step-<steps>); a retried barrier stage resumes from the newest complete one of its job. "
                    + "Empty: no checkpoints.", "URI", Function.identity(), v -> true, "", "", "");
    /** Steps between checkpoints. */
    public static final ConfEntry<Integer> CHECKPOINT_EVERY = intEntry("spark.mp.checkpoint.every",
            "A checkpoint after every this many optimizer steps, and one when training ends (0: only that one).",
            100, 0);
    /** Checkpoints kept. */
    public static final ConfEntry<Integer> CHECKPOINT_KEEP = intEntry("spark.mp.checkpoint.keep",
            "The newest this many complete checkpoints are kept; older ones are deleted.", 2, 1);
    /** What a step with a non-finite gradient does. */
    public static final ConfEntry<io.sparkmp.runtime.NonFinitePolicy> NON_FINITE = entry("spark.mp.nonFinite",
            "A step whose gradient holds a NaN or an infinity on any stage: fail stops training with an error naming "
                    + "the step, stage and layer; skip leaves that step's update out on every stage alike (parameters, "
                    + "updater state and DL4J's iteration count stay as without the mini-batch), counts it and trains "
                    + "on. Skip makes each step's updates wait for one flag exchange through rank 0.", "fail|skip",
            io.sparkmp.runtime.NonFinitePolicy::parse, v -> true, "", io.sparkmp.runtime.NonFinitePolicy.FAIL, "fail");
    /** Longest wait at a barrier allGather. */
    public static final ConfEntry<Long> BARRIER_TIMEOUT = durationEntry("spark.mp.barrier.timeout",
            "Longest wait of a task at one barrier allGather (start-up rendezvous, checkpoint commit) for every rank "
                    + "to arrive; then the attempt fails naming the call and the ranks that did not arrive (Spark's own "
                    + "spark.barrier.sync.timeout is 365 days).", "10min");
    /** Fault injection for tests. */
    public static final ConfEntry<String> TEST_FAULT = entry("spark.mp.test.fault",
            "For tests of recovery only: fail:<rank>:<step> fails that rank after that step, checkpoint:<rank>:<step> "
                    + "fails it while writing that step's checkpoint, stall:<rank>:<step> makes it never arrive at that "
                    + "checkpoint's barrier call; first stage attempt only. Empty: off.",
            "string", Function.identity(), v -> true, "", "", "");

    private final Map<String, String> values;

    private SparkMpConf(Map<String, String> values) {
        this.values = values;
    }

    /**
     * Reads the {@code spark.mp.*} settings of {@code conf} and checks every one.
     *
     * @throws IllegalArgumentException for an unknown {@code spark.mp.*} key or a bad value, naming both
     */
    public static SparkMpConf from(SparkConf conf) {
        Map<String, String> v = new TreeMap<>();
        for (Tuple2<String, String> kv : conf.getAllWithPrefix("spark.mp.")) {
            v.put("spark.mp." + kv._1(), kv._2());
        }
        return of(v);
    }

    /** Reads settings from a plain map (keys with the {@code spark.mp.} prefix; others are ignored). */
    public static SparkMpConf of(Map<String, String> settings) {
        Map<String, String> v = new TreeMap<>();
        settings.forEach((k, val) -> {
            if (k.startsWith("spark.mp.")) {
                v.put(k, val);
            }
        });
        for (Map.Entry<String, String> e : v.entrySet()) {
            ConfEntry<?> entry = ENTRIES.get(e.getKey());
            if (entry == null) {
                throw new IllegalArgumentException("unknown setting `" + e.getKey() + "`; known spark.mp keys: "
                        + String.join(", ", ENTRIES.keySet()));
            }
            entry.parse(e.getValue());
        }
        return new SparkMpConf(Collections.unmodifiableMap(v));
    }

    /** The configured value of {@code entry}, or its default. */
    public <T> T get(ConfEntry<T> entry) {
        String text = values.get(entry.key());
        return text == null ? entry.defaultValue() : entry.parse(text);
    }

    /** Whether {@code entry} was set explicitly. */
    public boolean isSet(ConfEntry<?> entry) {
        return values.containsKey(entry.key());
    }

    /** All declared settings, in declaration order. */
    public static List<ConfEntry<?>> entries() {
        return List.copyOf(ENTRIES.values());
    }

    /** A markdown table of every setting (key, type, default, meaning), for documentation. */
    public static String describe() {
        StringBuilder sb = new StringBuilder("| key | type | default | meaning |\n|---|---|---|---|\n");
        for (ConfEntry<?> e : ENTRIES.values()) {
            sb.append("| `").append(e.key()).append("` | ").append(e.typeName()).append(" | `")
                    .append(e.defaultText()).append("` | ").append(e.doc());
            if (!e.checkDoc().isEmpty()) {
                sb.append(" (").append(e.checkDoc()).append(')');
            }
            sb.append(" |\n");
        }
        return sb.toString();
    }

    private static boolean parseBoolean(String s) {
        String t = s.toLowerCase(Locale.ROOT);
        if (t.equals("true")) {
            return true;
        }
        if (t.equals("false")) {
            return false;
        }
        throw new IllegalArgumentException(s);
    }

    /** An int setting without a fixed default: unset, the planner chooses it. */
    private static ConfEntry<Integer> plannedIntEntry(String key, String doc, int min) {
        return entry(key, doc, "int", Integer::parseInt, v -> v >= min, "must be >= " + min, null, PLANNER);
    }

    private static ConfEntry<Integer> intEntry(String key, String doc, int def, int min) {
        return entry(key, doc, "int", Integer::parseInt, v -> v >= min, "must be >= " + min, def, Integer.toString(def));
    }

    private static ConfEntry<Long> durationEntry(String key, String doc, String def) {
        return entry(key, doc, "duration (e.g. 30s, 500ms)", s -> JavaUtils.timeStringAsMs(s), v -> v > 0,
                "must be > 0", JavaUtils.timeStringAsMs(def), def);
    }

    private static <T> ConfEntry<T> entry(String key, String doc, String type, Function<String, T> parser,
                                          Predicate<T> check, String checkDoc, T def, String defText) {
        return register(new ConfEntry<>(key, doc, type, parser, check, checkDoc, def, defText));
    }

    private static <T> ConfEntry<T> register(ConfEntry<T> e) {
        if (ENTRIES.putIfAbsent(e.key(), e) != null) {
            throw new IllegalStateException("duplicate setting " + e.key());
        }
        return e;
    }

    @Override
    public String toString() {
        List<String> parts = new ArrayList<>();
        values.forEach((k, v) -> parts.add(k + "=" + (k.toLowerCase(Locale.ROOT).contains("password") ? "***" : v)));
        return "SparkMpConf" + parts;
    }
}
