package io.sparkmp.spark;

import io.sparkmp.model.LayerProfiler;
import io.sparkmp.plan.ModelProfile;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.SparkContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.rdd.RDD;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import scala.collection.Iterator;
import scala.collection.JavaConverters;
import scala.reflect.ClassTag$;
import scala.runtime.AbstractFunction1;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * How much the executors that share a host slow each other down while they compute at once, for the planner's
 * simulator ({@link io.sparkmp.schedule.HostSharing}): the profile is measured by one task alone, while a
 * pipeline's stages on one host compute beside each other for much of a step and share its cores' caches, memory
 * bandwidth and (on a shared VM) the cores themselves.
 *
 * <p>A barrier job ({@value #DESCRIPTION}) of one task per executor slot cuts the model into as many parts of about
 * equal measured time ({@link #split}: what a balanced plan runs per device) and each task builds its part as a
 * stage of the runtime ({@link LayerProfiler#kernel}): a step is M micro-batches of the profile's sample size
 * (M = batch / sample), forwards, backwards with deferred weight gradients, and the update. After a warm-up
 * of all tasks at once (at least {@value #WARMUP} steps and {@value #MIN_WARMUP_SECONDS} s), in each of
 * {@value #ROUNDS} rounds the tasks take turns timing steps alone (at least {@value #REPEATS} and
 * {@value #MIN_ALONE_SECONDS} s; the others waiting at a barrier; the order reversed in odd rounds), then all run
 * steps at once for as long as the slowest took alone, so that every step overlaps the others'. A task's slowdown is its mean step together
 * over its mean step alone (time over steps: see {@code mean}); the result is the median over the tasks of the host with the most tasks,
 * and that count. One slot: no job, nothing slowed. Measured once per application, model and batch size, then cached
 * (4-6 s for the benchmark MLP on 2 slots).
 *
 * <p>Four other designs were measured on the 2-core machine (2026-12-04) and dropped: one dense layer per task
 * (as fast together as alone, its working set fitting beside the other's in the shared cache), a fixed number
 * of calls together (0.83-1.71 per round: the faster task finishes first and the slower one runs its last calls
 * alone), the median step instead of the mean (see {@code mean}) and a 0.5 s warm-up (1.00 for 4 JVMs on 2 cores:
 * the other JVMs were still compiling while one ran "alone").
 *
 * @param tasksPerHost the most tasks one host holds
 * @param slowdown median together / alone time on that host, at least 1
 * @param detail per-task figures, for the log and the plan's explain
 */
record HostSharingProbe(int tasksPerHost, double slowdown, String detail) implements Serializable {
    private static final long serialVersionUID = 1L;

    /** Spark job description of the probe job (tests find it by this prefix). */
    static final String DESCRIPTION = "spark-mp host sharing probe";
    /** Timed steps alone per round, warm-up steps, rounds. */
    static final int REPEATS = 5;
    static final int WARMUP = 3;
    static final int ROUNDS = 2;
    /** At least this long warming up (all tasks at once) and timing alone per turn: small models take more steps. */
    static final double MIN_WARMUP_SECONDS = 2.0;
    static final double MIN_ALONE_SECONDS = 0.1;
    /** Nothing measured: one task per host. */
    static final HostSharingProbe NONE = new HostSharingProbe(1, 1, "one task per host");

    /**
     * A slowdown given by {@code spark.mp.plan.hostSlowdown} on this cluster's tasks per host: {@link #NONE} for
     * 1, and for NaN (auto), which only {@link #of} measures.
     */
    static HostSharingProbe given(SparkContext sc, double slowdown) {
        return Double.isNaN(slowdown) || slowdown == 1 ? NONE
                : new HostSharingProbe(ClusterCheck.tasksPerHost(sc), slowdown, "given");
    }
    private static final Map<String, HostSharingProbe> CACHE = new ConcurrentHashMap<>();

    /**
     * The probe for this model on this application's slots (cached per application, model, batch size and slot count).
     *
     * @param profile the model's measured profile: its layer times cut the model into the tasks' parts
     * @param sampleMicroBatch examples per call
     */
    static HostSharingProbe of(SparkContext sc, MultiLayerConfiguration conf, InputType inputType, ModelProfile profile,
                               int sampleMicroBatch, int batchSize, int slots, long timeoutMs) {
        if (slots < 2) {
            return NONE;
        }
        String key = sc.applicationId() + "|" + slots + "|" + batchSize + "|" + profile.cacheKey();
        return CACHE.computeIfAbsent(key, k -> run(sc, conf, inputType, split(profile, sampleMicroBatch, slots),
                sampleMicroBatch, Math.max(1, batchSize / sampleMicroBatch), slots, timeoutMs));
    }

    /**
     * The model cut into {@code parts} contiguous ranges of about equal measured time at {@code microBatch} (as a
     * balanced plan would cut it; fewer parts than asked when the model has fewer layers): boundaries from 0 to
     * the layer count.
     */
    static int[] split(ModelProfile profile, int microBatch, int parts) {
        int n = profile.layerCount();
        int k = Math.max(1, Math.min(parts, n));
        double[] t = new double[n];
        double total = 0;
        for (int i = 0; i < n; i++) {
            t[i] = profile.layer(i).forwardSeconds(microBatch) + profile.layer(i).backwardSeconds(microBatch);
            total += t[i];
        }
        int[] b = new int[k + 1];
        b[k] = n;
        double sum = 0;
        int part = 1;
        for (int i = 0; i < n && part < k; i++) {
            sum += t[i];
            // cut after layer i once the running sum reaches part / k of the total, leaving a layer per part left
            if ((sum >= total * part / k || n - (i + 1) == k - part) && i + 1 > b[part - 1]) {
                b[part++] = i + 1;
            }
        }
        return b;
    }

    private static HostSharingProbe run(SparkContext sc, MultiLayerConfiguration conf, InputType inputType,
                                        int[] split, int microBatch, int microBatches, int slots, long timeoutMs) {
        String previous = sc.getLocalProperty("spark.job.description");
        sc.setJobDescription(DESCRIPTION + " (split " + Arrays.toString(split) + ", micro-batch " + microBatch + ", " + slots + " tasks)");
        try {
            List<Integer> ranks = new ArrayList<>();
            for (int i = 0; i < slots; i++) {
                ranks.add(i);
            }
            RDD<String> out = JavaSparkContext.fromSparkContext(sc).parallelize(ranks, slots).rdd().barrier()
                    .mapPartitions(new Task(conf.toJson(), inputType, split, microBatch, microBatches, timeoutMs), false,
                            ClassTag$.MODULE$.apply(String.class));
            List<String> lines = new ArrayList<>(Arrays.asList((String[]) out.collect()));
            return summarize(lines, Arrays.toString(split));
        } finally {
            sc.setJobDescription(previous);
        }
    }

    /**
     * From the tasks' lines {@code host|alone|together}: the host with the most tasks, the median of their
     * together / alone ratios (at least 1).
     */
    static HostSharingProbe summarize(List<String> lines, String split) {
        Map<String, List<Double>> byHost = new HashMap<>();
        StringBuilder detail = new StringBuilder("split " + split + ":");
        for (String line : lines) {
            String[] f = line.split("\\|");
            double alone = Double.parseDouble(f[1]);
            double together = Double.parseDouble(f[2]);
            byHost.computeIfAbsent(f[0], h -> new ArrayList<>()).add(alone > 0 ? together / alone : 1);
            detail.append(String.format(Locale.ROOT, " %s %.3f/%.3f ms", f[0], alone * 1e3, together * 1e3));
        }
        List<Double> most = List.of();
        for (List<Double> r : byHost.values()) {
            if (r.size() > most.size()) {
                most = r;
            }
        }
        if (most.size() < 2) {
            return new HostSharingProbe(1, 1, detail + " (one task per host)");
        }
        double[] r = most.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        double median = r.length % 2 == 1 ? r[r.length / 2] : (r[r.length / 2 - 1] + r[r.length / 2]) / 2;
        return new HostSharingProbe(most.size(), Math.max(1, median), detail.toString());
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "%d tasks per host, %.3fx while all compute (%s)", tasksPerHost, slowdown,
                detail);
    }

    /** One task: warm up, time alone in turn, time together; returns {@code host|alone|together}. */
    private static final class Task extends AbstractFunction1<Iterator<Integer>, Iterator<String>>
            implements Serializable {
        private static final long serialVersionUID = 1L;
        private final String confJson;
        private final InputType inputType;
        private final int[] split;
        private final int microBatch;
        private final int microBatches;
        private final long timeoutMs;

        Task(String confJson, InputType inputType, int[] split, int microBatch, int microBatches, long timeoutMs) {
            this.confJson = confJson;
            this.inputType = inputType;
            this.split = split.clone();
            this.microBatch = microBatch;
            this.microBatches = microBatches;
            this.timeoutMs = timeoutMs;
        }

        @Override
        public Iterator<String> apply(Iterator<Integer> ignored) {
            BarrierTaskContext ctx = BarrierTaskContext.get();
            int rank = ctx.partitionId();
            int tasks = ctx.getTaskInfos().length;
            String host = ctx.getTaskInfos()[rank].address().replaceFirst(":\\d+$", "");
            MultiLayerConfiguration conf = MultiLayerConfiguration.fromJson(confJson);
            int call = 0;
            int part = rank % (split.length - 1);
            try (LayerProfiler.StageKernel kernel = LayerProfiler.kernel(conf, inputType, split[part], split[part + 1],
                    microBatch, microBatches)) {
                kernel.stepsFor(MIN_WARMUP_SECONDS, WARMUP); // all at once: every JVM's JIT gets the same start
                List<Double> alone = new ArrayList<>();
                List<Double> together = new ArrayList<>();
                for (int round = 0; round < ROUNDS; round++) {
                    double mine = 0;
                    for (int turn = 0; turn < tasks; turn++) {
                        sync(ctx, rank, call++, "round " + round + " turn " + turn, "");
                        // odd rounds reverse the order: no task is always the first after the warm-up
                        if ((round % 2 == 0 ? turn : tasks - 1 - turn) == rank) {
                            double[] t = kernel.stepsFor(MIN_ALONE_SECONDS, REPEATS);
                            mine = Arrays.stream(t).sum();
                            for (double x : t) {
                                alone.add(x);
                            }
                        }
                    }
                    // All at once for as long as the slowest task took alone: every task's calls overlap the others'.
                    double window = 0;
                    for (String m : sync(ctx, rank, call++, "round " + round + " all at once", Double.toString(mine))) {
                        window = Math.max(window, Double.parseDouble(m));
                    }
                    for (double x : kernel.stepsFor(window, 1)) {
                        together.add(x);
                    }
                }
                sync(ctx, rank, call, "end", "");
                return JavaConverters.asScalaIterator(List.of(host + "|" + mean(alone) + "|" + mean(together))
                        .iterator());
            }
        }

        /**
         * Mean step: time over steps. Not the median: where tasks outnumber cores the scheduler gives each slices
         * of a few ms, and a short step mostly runs inside one, unslowed; measured with 4 executor JVMs on 2 cores,
         * the median step was as fast together as alone while each task ran half the steps per second.
         */
        private static double mean(List<Double> v) {
            return v.stream().mapToDouble(Double::doubleValue).average().orElse(0);
        }

        private String[] sync(BarrierTaskContext ctx, int rank, int call, String name, String message) {
            return BarrierSync.timed(() -> ctx.allGather(message), call, "host sharing probe, " + name, rank, timeoutMs,
                    () -> ctx.markInterrupted("spark-mp: host sharing probe " + name + " timed out"));
        }
    }
}
