package io.sparkmp.bench;

import io.sparkmp.plan.RecomputeMode;
import io.sparkmp.schedule.ScheduleKind;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Function;

/**
 * Command line of {@link ThroughputBenchmark}: what to run and how long. {@code --quick} changes the defaults
 * only; options given explicitly win over it.
 *
 * @param master Spark master (executors: one core each)
 * @param steps optimizer steps per run (one epoch over {@code steps} mini-batches), warm-up included
 * @param warmup leading steps left out of the medians
 * @param batch examples per mini-batch (per worker for DL4J Spark)
 * @param micro spark-mp micro-batch counts M
 * @param schedules spark-mp schedules
 * @param recompute spark-mp recomputation modes
 * @param contenders which of {@code fit}, {@code dl4j-spark}, {@code spark-mp}, {@code planner}, {@code in-process} run
 * @param saveUpdater DL4J Spark {@code saveUpdater} values
 * @param dl4jEpochs DL4J Spark epochs timed after its one warm-up epoch
 * @param averaging DL4J Spark averaging frequency (mini-batches per worker between averagings)
 * @param seed seed of the data and of the model's initial parameters
 * @param timeline folder for one timeline report per spark-mp run (steps after warm-up), or null for none
 * @param warmExecutors steps of an uncounted spark-mp run (P = 2, 1F1B, M = 4) before the first contender, so that
 *     every row runs on executors past their first fit (0: none). Measured on 2026-12-04: the first fit on fresh
 *     executors ran 25-45% slower for 100-200 steps than the same plan later in the run; an 800-step warm-up
 *     levelled off after about 250 steps (the default: 800, about a minute)
 * @param executorOptions JVM options added to the executors' (local-cluster only), e.g. GC or JIT flags to
 *     compare, given comma-separated; empty: none
 * @param hostSlowdown {@code spark.mp.plan.hostSlowdown} for the spark-mp rows ({@code 1}, a number or {@code auto})
 */
record ThroughputOptions(String master, int steps, int warmup, int batch, List<Integer> micro,
                         List<ScheduleKind> schedules, List<RecomputeMode> recompute, Set<String> contenders,
                         List<Boolean> saveUpdater, int dl4jEpochs, int averaging, long seed, String timeline,
                         int warmExecutors, String executorOptions, String hostSlowdown) {

    static final List<String> CONTENDERS = List.of("fit", "dl4j-spark", "spark-mp", "planner", "in-process", "hybrid");

    static final String USAGE = "ThroughputBenchmark [--quick] [--master local-cluster[2,1,2048]] [--steps 30]"
            + " [--warmup 3] [--batch 256] [--micro 4,8,16] [--schedules gpipe,1f1b] [--recompute always,never]"
            + " [--contenders fit,dl4j-spark,spark-mp,planner,in-process] [--save-updater false,true] [--dl4j-epochs 2]"
            + " [--averaging 5] [--seed 42] [--timeline <folder for HTML reports>] [--warm-executors 800] [--executor-options <JVM options, comma-separated>] [--host-slowdown 1|auto|<x>]";

    ThroughputOptions {
        if (steps <= warmup) {
            throw new IllegalArgumentException("--steps (" + steps + ") must exceed --warmup (" + warmup + ")");
        }
        if (warmExecutors < 0) {
            throw new IllegalArgumentException("--warm-executors must be >= 0, found " + warmExecutors);
        }
        if (warmup < 0 || batch <= 0 || dl4jEpochs <= 0 || averaging <= 0) {
            throw new IllegalArgumentException("--warmup must be >= 0 and --batch, --dl4j-epochs, --averaging positive,"
                    + " found " + warmup + ", " + batch + ", " + dl4jEpochs + ", " + averaging);
        }
        for (int m : micro) {
            if (m <= 0 || batch % m != 0) {
                throw new IllegalArgumentException("--micro " + m + " must be positive and divide --batch (" + batch + ")");
            }
        }
        for (String c : contenders) {
            if (!CONTENDERS.contains(c)) {
                throw new IllegalArgumentException("--contenders must be among " + CONTENDERS + ", found `" + c + "`");
            }
        }
        micro = List.copyOf(micro);
        schedules = List.copyOf(schedules);
        recompute = List.copyOf(recompute);
        contenders = Set.copyOf(contenders);
        saveUpdater = List.copyOf(saveUpdater);
    }

    /**
     * Parses the command line.
     *
     * @throws IllegalArgumentException naming the option and the bad value
     */
    static ThroughputOptions parse(String... args) {
        boolean quick = false;
        for (String a : args) {
            quick |= a.equals("--quick");
        }
        String master = "local-cluster[2,1,2048]";
        int steps = quick ? 8 : 30;
        int warmup = 3;
        int batch = 256;
        List<Integer> micro = quick ? List.of(8) : List.of(4, 8, 16);
        List<ScheduleKind> schedules = quick ? List.of(ScheduleKind.ONE_F_ONE_B)
                : List.of(ScheduleKind.GPIPE, ScheduleKind.ONE_F_ONE_B);
        List<RecomputeMode> recompute = quick ? List.of(RecomputeMode.NEVER)
                : List.of(RecomputeMode.ALWAYS, RecomputeMode.NEVER);
        Set<String> contenders = Set.copyOf(CONTENDERS);
        List<Boolean> saveUpdater = List.of(false, true);
        int dl4jEpochs = quick ? 1 : 2;
        int averaging = 5;
        long seed = 42;
        String timeline = null;
        int warmExecutors = quick ? 0 : 800;
        String executorOptions = "";
        String hostSlowdown = "1";
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < args.length; i++) {
            String key = args[i];
            if (key.equals("--quick")) {
                continue;
            }
            if (!seen.add(key)) {
                throw new IllegalArgumentException(key + " was given twice");
            }
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException(key + " needs a value\nusage: " + USAGE);
            }
            String v = args[++i];
            switch (key) {
                case "--master" -> master = v;
                case "--steps" -> steps = integer(key, v);
                case "--warmup" -> warmup = integer(key, v);
                case "--batch" -> batch = integer(key, v);
                case "--micro" -> micro = list(key, v, s -> integer(key, s));
                case "--schedules" -> schedules = list(key, v, ScheduleKind::parse);
                case "--recompute" -> recompute = list(key, v, RecomputeMode::parse);
                case "--contenders" -> contenders = Set.copyOf(list(key, v, s -> s));
                case "--save-updater" -> saveUpdater = list(key, v, s -> bool(key, s));
                case "--dl4j-epochs" -> dl4jEpochs = integer(key, v);
                case "--averaging" -> averaging = integer(key, v);
                case "--seed" -> seed = Long.parseLong(v);
                case "--timeline" -> timeline = v;
                case "--warm-executors" -> warmExecutors = integer(key, v);
                case "--host-slowdown" -> hostSlowdown = v;
                case "--executor-options" -> executorOptions = String.join(" ", v.split(",")); // no spaces in bench.args
                default -> throw new IllegalArgumentException("unknown option `" + key + "`\nusage: " + USAGE);
            }
        }
        return new ThroughputOptions(master, steps, warmup, batch, micro, schedules, recompute, contenders,
                saveUpdater, dl4jEpochs, averaging, seed, timeline, warmExecutors, executorOptions,
                hostSlowdown);
    }

    boolean runs(String contender) {
        return contenders.contains(contender);
    }

    private static int integer(String key, String v) {
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("`" + key + "` should be int, but was `" + v + "`");
        }
    }

    private static boolean bool(String key, String v) {
        if (!v.equals("true") && !v.equals("false")) {
            throw new IllegalArgumentException("`" + key + "` should be true or false, but was `" + v + "`");
        }
        return Boolean.parseBoolean(v);
    }

    private static <T> List<T> list(String key, String v, Function<String, T> item) {
        List<T> out = new ArrayList<>();
        for (String s : v.split(",")) {
            if (!s.isBlank()) {
                out.add(item.apply(s.trim()));
            }
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("`" + key + "` needs at least one value, found `" + v + "`");
        }
        return out;
    }
}
