package io.sparkmp.spark;

import io.sparkmp.model.LayerProfiler;
import io.sparkmp.plan.ModelProfile;
import io.sparkmp.plan.PipelinePlan;
import io.sparkmp.plan.PipelinePlanner;
import io.sparkmp.plan.RuntimeCosts;
import io.sparkmp.schedule.ScheduleKind;
import org.apache.spark.SparkContext;
import org.apache.spark.api.java.JavaRDD;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BaseRecurrentLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.nd4j.linalg.dataset.DataSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;

/**
 * Turns a trainer's settings and the cluster into a {@link PipelinePlan} (driver side): the profile (measured
 * on an executor and cached, or analytic), the executor slots, the memory budget per device and the link
 * bandwidth go to {@link PipelinePlanner}; stages, micro-batches, schedule, virtual stages and a manual split
 * that the user gave (builder or {@code spark.mp.*}) are fixed, the rest the planner chooses.
 *
 * <p>Replicas: {@code spark.mp.replicas} (default {@code auto}). A number is fixed for the planner, which then plans
 * each replica's pipeline on {@code batchSize / R} examples and charges the gradient all-reduce. {@code auto} lets
 * the planner choose P and R together over the executor slots by predicted step, with R = 1 when the model has
 * BatchNormalization (its statistics would be per replica) and, as the planner finds, when no R &gt; 1 divides the
 * batch; the plan's explain says which and why. Recomputation follows
 * {@code spark.mp.recompute} (default auto: each stage keeps its layers' inputs of the micro-batches in flight
 * where that fits its budget; a stage that recomputes is charged its forward twice).
 * A measured profile also carries the optimizer step time per parameter, which the planner charges to each
 * stage once per mini-batch, and the runtime's message, LOAD and per-step costs, which its simulated step time
 * charges to the schedule's actions. Host sharing ({@code spark.mp.plan.hostSlowdown}, default 1: none): a given
 * slowdown is charged to the tasks of each host (their count from the cluster, {@link ClusterCheck#tasksPerHost});
 * {@code auto} measures it with {@link HostSharingProbe} after the profile (measured profiles only).
 *
 * <p><b>Memory budget per device</b>: {@code spark.mp.device.memory} when &gt; 0. Else what the executor process
 * really leaves: its javacpp cap ({@code -Dorg.bytedeco.javacpp.maxphysicalbytes}, which caps the whole
 * process's resident bytes, heap included; javacpp's default is twice the heap) less the bytes the process
 * holds resident once ND4J is loaded (javacpp {@code Pointer.physicalBytes()}, measured by a one-task probe job
 * on an executor and cached for the application, or in the driver's JVM in local mode), less a margin of
 * {@value #MARGIN_BYTES} bytes for what a training task adds beyond the planner's estimate (see
 * {@link #MARGIN_BYTES}). An idle heap is not resident, so it is not subtracted whole, as it was before. In local
 * mode every rank lives in the driver's process under its one cap: what is left is divided by the task slots.
 * A process capped at 0 (unlimited) gets its maximum heap.
 *
 * <p><b>Order</b>: slots, input shape, budget, then a memory check with the analytic profile (the memory
 * figures of a measured profile are the same, only its times differ), so a layer that alone exceeds the budget
 * fails with the planner's named error before any profiling job; then the measured profile (profiling job
 * unless cached) and the plan.
 */
final class PlanResolver {
    private static final Logger LOG = LoggerFactory.getLogger(PlanResolver.class);

    /**
     * What a training task's process adds beyond the planner's estimate of its stage, kept out of the budget:
     * 128 MiB. Measured on 2026-12-02 (executors of 512 MiB heap capped at 1500m; README "Memory truth" and
     * "Capacity"): a task starts up to 61 MiB above the probe's figure on an executor that ran the profiling job;
     * the first steps' peak exceeds the estimate by up to 28 MiB now that the estimate counts the gradient the
     * runtime really holds (MLPs of 4 to 333 M parameters on 2 and 4 stages: +9 to +37 MiB; the 45 MiB measured
     * earlier included an uncounted gradient sum); the resident set grows 22-28 MiB more over the next 10-20
     * steps: 126 MiB, rounded up.
     */
    static final long MARGIN_BYTES = 128L << 20;

    private PlanResolver() {
    }

    /**
     * Plans one fit. Checks executor slots first when the stage count is fixed (so a missing slot is reported
     * as such), runs the profiling job when the profile is measured and not cached.
     *
     * @param data training data, used only to read the input shape when the configuration does not tell it;
     *     may be null
     * @throws IllegalArgumentException for bad or contradictory settings, naming them
     * @throws io.sparkmp.plan.InfeasiblePlanException when nothing fits the memory budget
     */
    static PipelinePlan plan(SparkContext sc, MultiLayerConfiguration conf, TrainingSettings settings,
                             PlanChoices choices, JavaRDD<DataSet> data) {
        SparkMpConf mp = settings.conf();
        Integer stages = settings.given(SparkMpConf.STAGES);
        Integer v = settings.given(SparkMpConf.STAGES_PER_DEVICE);
        Integer m = settings.given(SparkMpConf.MICRO_BATCHES);
        ScheduleKind schedule = settings.given(SparkMpConf.SCHEDULE);
        int batchSize = settings.get(SparkMpConf.BATCH_SIZE);
        long slotWait = mp.get(SparkMpConf.SLOT_WAIT);
        choices.check(conf, stages, v);
        int layers = conf.getConfs().size();
        Integer given = settings.get(SparkMpConf.REPLICAS); // null: auto, the planner chooses
        int replicas = given == null ? 1 : given;
        io.sparkmp.runtime.PipelineSpec.requireNoBatchStatistics(conf, replicas); // a dry run refuses it too
        if (stages != null && stages <= layers) {
            ClusterCheck.requireSlots(sc, stages, replicas, slotWait);
        } else {
            ClusterCheck.requireSlots(sc, 1, replicas, slotWait);
        }
        int executors = Math.max(1, ClusterCheck.slots(sc));
        InputType input = inputType(conf, choices.inputType(), data);
        long budget = deviceBudget(sc, mp, executors);
        ProfileMode mode = choices.profileMode() != null ? choices.profileMode() : mp.get(SparkMpConf.PLAN_PROFILE);
        MeasuredProfile analytic = analyticProfile(conf, input, mp);
        double slowdown = settings.get(SparkMpConf.PLAN_HOST_SLOWDOWN); // NaN: auto, measured
        if (mode == ProfileMode.ANALYTIC) {
            // no probe on an analytic profile: a given slowdown only
            return planner(conf, analytic, HostSharingProbe.given(sc, slowdown), executors, budget, batchSize,
                    settings, choices, stages, v, m, schedule).plan();
        }
        // Memory first, from the analytic profile: its memory figures equal the measured profile's, and the
        // profiling job must not be the one to find that a layer does not fit.
        planner(conf, analytic, HostSharingProbe.NONE, executors, budget, batchSize, settings, choices, stages, v, m,
                schedule).plan();
        MeasuredProfile profile = profile(sc, conf, input, mp, mode, batchSize);
        HostSharingProbe sharing = hostSharing(sc, conf, input, profile.profile(), slowdown, batchSize,
                mp.get(SparkMpConf.BARRIER_TIMEOUT));
        return planner(conf, profile, sharing, executors, budget, batchSize, settings, choices, stages, v, m, schedule)
                .plan();
    }

    /**
     * The host sharing the planner charges: none for 1 (the default), {@code given} with the cluster's tasks per
     * host, or (NaN: auto) measured by {@link HostSharingProbe} on every slot. A probe that fails is logged and
     * charges nothing (the plan is still valid, only its step may be predicted short).
     */
    private static HostSharingProbe hostSharing(SparkContext sc, MultiLayerConfiguration conf, InputType input,
                                                ModelProfile profile, double given, int batchSize, long timeoutMs) {
        if (!Double.isNaN(given)) {
            return HostSharingProbe.given(sc, given);
        }
        int slots = Math.max(1, ClusterCheck.slots(sc));
        try {
            HostSharingProbe p = HostSharingProbe.of(sc, conf, input, profile, sampleMicroBatch(batchSize), batchSize,
                    slots, timeoutMs);
            LOG.info("spark-mp: host sharing {}", p);
            return p;
        } catch (RuntimeException e) {
            LOG.warn("spark-mp: host sharing probe failed ({}); the plan charges no slowdown for tasks sharing a host", e
                    .toString());
            return HostSharingProbe.NONE;
        }
    }

    private static PipelinePlanner planner(MultiLayerConfiguration conf, MeasuredProfile profile,
                                           HostSharingProbe sharing, int executors, long budget, int batchSize,
                                           TrainingSettings settings, PlanChoices choices,
                                           Integer stages, Integer v, Integer m, ScheduleKind schedule) {
        PipelinePlanner.Builder b = PipelinePlanner.builder().profile(profile.profile()).executors(executors)
                .hostSharing(sharing.tasksPerHost(), sharing.slowdown())
                .updateSecondsPerParameter(profile.updateSecondsPerParameter()).runtimeCosts(profile.runtimeCosts())
                .deviceMemoryBytes(budget).bandwidthBytesPerSecond(settings.get(SparkMpConf.PLAN_BANDWIDTH))
                .batchSize(batchSize).recompute(settings.get(SparkMpConf.RECOMPUTE))
                // the skip policy keeps each step undoable to its end: no per-layer update (StageWorker);
                // replicas (R > 1, given or chosen) sum a stage's whole gradient before its step, which the
                // planner charges per candidate
                .fusedUpdate(settings.get(SparkMpConf.NON_FINITE) == io.sparkmp.runtime.NonFinitePolicy.FAIL)
                // On ND4J's CPU backend the all-reduce thread's copies and sums take the cores the backward runs
                // on: measured (ThroughputBenchmark, P = 1 x R = 2) the backward ran 3x its profiled time while the
                // sums ran beside it, so the planner charges them after the backward there.
                .allReduceBesideBackward(DeviceBinding.cudaBackend());
        Integer replicas = settings.get(SparkMpConf.REPLICAS);
        if (replicas != null) {
            b.replicas(replicas);
        } else {
            String limit = replicaLimit(conf);
            if (limit != null) {
                b.maxReplicas(1, limit);
            }
        }
        if (stages != null) {
            b.stages(stages);
        }
        if (v != null) {
            b.stagesPerDevice(v);
        }
        if (m != null) {
            b.microBatches(m);
        }
        if (schedule != null) {
            b.schedule(schedule);
        }
        choices.apply(b);
        return b.build();
    }

    /**
     * Why this model must train with R = 1 when the planner chooses R, or null when any R may: BatchNormalization
     * normalises by its examples' statistics, which would be each replica's share instead of the mini-batch's.
     */
    static String replicaLimit(MultiLayerConfiguration conf) {
        int bn = io.sparkmp.runtime.PipelineSpec.batchStatisticsLayer(conf);
        if (bn < 0) {
            return null;
        }
        return "layer " + bn + " (BatchNormalization) normalises by its examples' statistics, which would be each "
                + "replica's share instead of the mini-batch's (set spark.mp.replicas to a number to be refused "
                + "with the reason instead)";
    }

    private static MeasuredProfile analyticProfile(MultiLayerConfiguration conf, InputType input, SparkMpConf mp) {
        return new MeasuredProfile(LayerProfiler.builder().build().analytic(conf, input,
                mp.get(SparkMpConf.PLAN_ANALYTIC_FLOPS), mp.get(SparkMpConf.PLAN_ANALYTIC_CALL_SECONDS)), 0,
                RuntimeCosts.NONE);
    }

    /** The measured (cached) or analytic profile of the model (analytic: no optimizer step time). */
    static MeasuredProfile profile(SparkContext sc, MultiLayerConfiguration conf, InputType input, SparkMpConf mp,
                                ProfileMode chosen, int batchSize) {
        ProfileMode mode = chosen != null ? chosen : mp.get(SparkMpConf.PLAN_PROFILE);
        if (mode == ProfileMode.ANALYTIC) {
            return analyticProfile(conf, input, mp);
        }
        int sample = sampleMicroBatch(batchSize);
        String hw = mp.get(SparkMpConf.PLAN_HARDWARE);
        String hardware = hw.isBlank() ? HostFacts.hardwareDescription() : hw;
        String key = ProfilingJob.profiler(sample, hardware).cacheKey(conf, input);
        String folder = mp.get(SparkMpConf.PLAN_PROFILE_CACHE);
        Path dir = folder.isBlank() ? null : Paths.get(folder);
        return ProfileCache.get(key, dir, () -> ProfilingJob.run(sc, conf, input, sample, hardware, batchSize));
    }

    /** The profile's sample micro-batch; layers are timed at it and twice it, around 2 to 8 micro-batches. */
    static int sampleMicroBatch(int batchSize) {
        return Math.max(1, Math.min(32, batchSize / 4));
    }

    /**
     * The model's input type: given; else a feed-forward input of the first layer's nIn when that layer is a
     * plain feed-forward layer; else the shape of the first training example (rank 2 feed-forward, 3 recurrent,
     * 4 convolutional NCHW).
     *
     * @throws IllegalArgumentException when none of these tells it
     */
    static InputType inputType(MultiLayerConfiguration conf, InputType given, JavaRDD<DataSet> data) {
        InputType known = inputTypeOf(conf, given);
        if (known != null) {
            return known;
        }
        Layer first = conf.getConf(0).getLayer();
        if (data != null) {
            DataSet d = data.first();
            long[] s = d.getFeatures().shape();
            switch (s.length) {
                case 2:
                    return InputType.feedForward(s[1]);
                case 3:
                    return InputType.recurrent(s[1], s[2]);
                case 4:
                    return InputType.convolutional(s[2], s[3], s[1]);
                default:
                    break;
            }
            throw new IllegalArgumentException("cannot plan for features of shape " + Arrays.toString(s)
                    + ": give the model's input type with PipelineTrainer.Builder.inputType(...)");
        }
        throw new IllegalArgumentException("the model's input shape is unknown (first layer "
                + first.getClass().getSimpleName() + "): give it with PipelineTrainer.Builder.inputType(...)");
    }

    /**
     * The input type when given or told by the model ({@link io.sparkmp.model.ModelInput}: feed-forward,
     * convolutional-flat, embedding index columns); null otherwise (a recurrent input's length is not in the model).
     */
    static InputType inputTypeOf(MultiLayerConfiguration conf, InputType given) {
        if (given != null) {
            return given;
        }
        io.sparkmp.model.ModelInput input = io.sparkmp.model.ModelInput.of(conf);
        return input == null ? null : input.inputType();
    }

    /**
     * See the class comment; {@code slots}: the executor task slots (local mode divides by them).
     *
     * @throws IllegalArgumentException when the process leaves no memory past the margin, naming the figures
     */
    static long deviceBudget(SparkContext sc, SparkMpConf mp, int slots) {
        long set = mp.get(SparkMpConf.DEVICE_MEMORY);
        if (set > 0) {
            return set;
        }
        ResidentProbe probe = ResidentProbe.of(sc);
        long budget = budget(probe, sc.isLocal() ? slots : 1);
        LOG.info("spark-mp: memory budget per device {} bytes ({} MiB): {}", budget, budget >> 20, probe.describe(
                MARGIN_BYTES, sc.isLocal() ? slots : 1));
        return budget;
    }

    /** The rule of the class comment on a measured process shared by {@code ranksPerProcess} ranks. */
    static long budget(ResidentProbe probe, int ranksPerProcess) {
        if (ranksPerProcess < 1) {
            throw new IllegalArgumentException("ranksPerProcess must be positive, found " + ranksPerProcess);
        }
        return probe.budget(MARGIN_BYTES) / ranksPerProcess;
    }
}
