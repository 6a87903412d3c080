package io.sparkmp.spark;

import io.sparkmp.model.LayerProfiler;
import io.sparkmp.plan.ModelProfile;
import io.sparkmp.plan.PipelinePlan;
import io.sparkmp.plan.PipelinePlanner;
import io.sparkmp.schedule.ScheduleKind;
import org.apache.spark.SparkContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.network.util.JavaUtils;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BaseRecurrentLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.nd4j.linalg.dataset.DataSet;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Turns a trainer's settings and the cluster into a {@link PipelinePlan} (driver side): the profile (measured
 * on an executor and cached, or analytic), the executor slots, the memory budget per device and the link
 * bandwidth go to {@link PipelinePlanner}; stages, micro-batches, schedule, virtual stages and a manual split
 * that the user gave (builder or {@code spark.mp.*}) are fixed, the rest the planner chooses.
 *
 * <p>Always {@code replicas = 1}: the runtime has no data-parallel all-reduce yet. Recomputation follows
 * {@code spark.mp.recompute} (default auto: each stage keeps its layers' inputs of the micro-batches in flight
 * where that fits its budget; a stage that recomputes is charged its forward twice).
 * A measured profile also carries the optimizer step time per parameter, which the planner charges to each
 * stage once per mini-batch.
 *
 * <p><b>Memory budget per device</b>, in order: {@code spark.mp.device.memory} when &gt; 0; else, when the
 * executor JVM (the driver's JVM in local mode) sets {@code -Dorg.bytedeco.javacpp.maxphysicalbytes=X}, which
 * caps the whole process, X less the executor heap (at least X / 4); else the executor heap size (javacpp's
 * default cap is twice the heap, leaving about one heap for off-heap ND4J arrays).
 */
final class PlanResolver {

    private static final Pattern MAX_PHYSICAL = Pattern.compile(
            "-Dorg\\.bytedeco\\.javacpp\\.maxphysicalbytes=(\\S+)", Pattern.CASE_INSENSITIVE);

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
    static PipelinePlan plan(SparkContext sc, MultiLayerConfiguration conf, Map<ConfEntry<?>, Object> settings,
                             SparkMpConf mp, PlanChoices choices, JavaRDD<DataSet> data) {
        Integer stages = given(settings, mp, SparkMpConf.STAGES);
        Integer v = given(settings, mp, SparkMpConf.STAGES_PER_DEVICE);
        Integer m = given(settings, mp, SparkMpConf.MICRO_BATCHES);
        ScheduleKind schedule = given(settings, mp, SparkMpConf.SCHEDULE);
        int batchSize = value(settings, mp, SparkMpConf.BATCH_SIZE);
        long slotWait = mp.get(SparkMpConf.SLOT_WAIT);
        choices.check(conf, stages, v);
        int layers = conf.getConfs().size();
        if (stages != null && stages <= layers) {
            ClusterCheck.requireSlots(sc, stages, slotWait);
        } else {
            ClusterCheck.requireSlots(sc, 1, slotWait);
        }
        int executors = Math.max(1, ClusterCheck.slots(sc));
        InputType input = inputType(conf, choices.inputType(), data);
        MeasuredProfile profile = profile(sc, conf, input, mp, choices.profileMode(), batchSize);

        PipelinePlanner.Builder b = PipelinePlanner.builder().profile(profile.profile()).executors(executors)
                .updateSecondsPerParameter(profile.updateSecondsPerParameter())
                .deviceMemoryBytes(deviceBudget(sc, mp)).bandwidthBytesPerSecond(mp.get(SparkMpConf.PLAN_BANDWIDTH))
                .batchSize(batchSize).replicas(1).recompute(value(settings, mp, SparkMpConf.RECOMPUTE));
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
        return b.build().plan();
    }

    /** The measured (cached) or analytic profile of the model (analytic: no optimizer step time). */
    static MeasuredProfile profile(SparkContext sc, MultiLayerConfiguration conf, InputType input, SparkMpConf mp,
                                ProfileMode chosen, int batchSize) {
        ProfileMode mode = chosen != null ? chosen : mp.get(SparkMpConf.PLAN_PROFILE);
        if (mode == ProfileMode.ANALYTIC) {
            return new MeasuredProfile(LayerProfiler.builder().build().analytic(conf, input,
                    mp.get(SparkMpConf.PLAN_ANALYTIC_FLOPS)), 0);
        }
        // Timed at m and 2m: around the micro-batch sizes of 2 to 8 micro-batches.
        int sample = Math.max(1, Math.min(32, batchSize / 4));
        String hw = mp.get(SparkMpConf.PLAN_HARDWARE);
        String hardware = hw.isBlank() ? LayerProfiler.hardwareDescription() : hw;
        String key = ProfilingJob.profiler(sample, hardware).cacheKey(conf, input);
        String folder = mp.get(SparkMpConf.PLAN_PROFILE_CACHE);
        Path dir = folder.isBlank() ? null : Paths.get(folder);
        return ProfileCache.get(key, dir, () -> ProfilingJob.run(sc, conf, input, sample, hardware));
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

    /** The input type when given or told by a plain feed-forward first layer with nIn; null otherwise. */
    static InputType inputTypeOf(MultiLayerConfiguration conf, InputType given) {
        if (given != null) {
            return given;
        }
        Layer first = conf.getConf(0).getLayer();
        if (first instanceof FeedForwardLayer ff && !(first instanceof ConvolutionLayer)
                && !(first instanceof BaseRecurrentLayer) && ff.getNIn() > 0 && conf.getInputPreProcess(0) == null) {
            return InputType.feedForward(ff.getNIn());
        }
        return null;
    }

    /** See the class comment. */
    static long deviceBudget(SparkContext sc, SparkMpConf mp) {
        long set = mp.get(SparkMpConf.DEVICE_MEMORY);
        if (set > 0) {
            return set;
        }
        String max;
        long heap;
        if (sc.isLocal()) {
            heap = Runtime.getRuntime().maxMemory();
            max = System.getProperty("org.bytedeco.javacpp.maxphysicalbytes",
                    System.getProperty("org.bytedeco.javacpp.maxPhysicalBytes"));
        } else {
            heap = (long) sc.executorMemory() << 20;
            Matcher mm = MAX_PHYSICAL.matcher(sc.getConf().get("spark.executor.extraJavaOptions", ""));
            max = mm.find() ? mm.group(1) : null;
        }
        if (max != null) {
            long cap = JavaUtils.byteStringAsBytes(max.toLowerCase(Locale.ROOT));
            return Math.max(cap - heap, cap / 4);
        }
        return heap;
    }

    @SuppressWarnings("unchecked")
    private static <T> T given(Map<ConfEntry<?>, Object> settings, SparkMpConf mp, ConfEntry<T> e) {
        if (settings.containsKey(e)) {
            return (T) settings.get(e);
        }
        return mp.isSet(e) ? mp.get(e) : null;
    }

    private static <T> T value(Map<ConfEntry<?>, Object> settings, SparkMpConf mp, ConfEntry<T> e) {
        T t = given(settings, mp, e);
        return t != null ? t : e.defaultValue();
    }
}
