package io.sparkmp.plan;

import io.sparkmp.schedule.ControlTraffic;
import io.sparkmp.schedule.PipelineRules;
import io.sparkmp.schedule.ScheduleKind;
import io.sparkmp.schedule.HostSharing;
import io.sparkmp.schedule.ScheduleSimulator;
import io.sparkmp.schedule.Schedules;
import io.sparkmp.schedule.SimulationResult;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Chooses how to run a model as a pipeline: stage boundaries, number of pipeline devices P, virtual stages per
 * device v, micro-batches M, schedule and data-parallel replicas R, and predicts step time and memory. Entry
 * point: {@link #builder()}.
 *
 * <pre>{@code
 * PipelinePlan plan = PipelinePlanner.builder()
 *         .profile(profile)                  // ModelProfile: per-layer numbers (LayerProfiler or by hand)
 *         .executors(8)                      // devices available (one per Spark executor / GPU)
 *         .deviceMemoryBytes(4L << 30)       // budget per device
 *         .bandwidthBytesPerSecond(1e9)      // link between stages and replicas
 *         .batchSize(256)                    // global mini-batch per optimizer step
 *         .build().plan();
 * System.out.println(plan.explain());
 * }</pre>
 *
 * <h2>Cost model</h2>
 * Per micro-batch of m examples, stage [a, b) takes its layers' forward + backward time plus its sends
 * ({@code latency + m * bytes / bandwidth} for the activation at b and the input gradient at a); memory is
 * parameters + gradients + updater state + (in-flight micro-batches x kept activations; with recomputation
 * the stage input of each in-flight micro-batch plus one micro-batch's kept activations) + the largest layer's
 * working memory + receive buffers (activation in and gradient in, one micro-batch each). In-flight counts:
 * GPipe M; 1F1B {@code min(M, P - s)}; interleaved see {@link InFlight}. With v virtual stages per device,
 * each virtual stage gets budget / v. The partitioner balances the stage time above (latency included).
 * With {@link Builder#recomputeForward(boolean)} every stage but the last also pays its forward again before
 * each backward (activation recomputation; see {@link StageCostModel}), and every stage holds only the input
 * of its in-flight micro-batches.
 * With {@link Builder#updateSecondsPerParameter(double)} every stage also pays its optimizer step once per
 * mini-batch (parameters x rate): balanced as update / M per micro-batch, and added after each device's last
 * action in the simulated step time.
 * Step time, closed form, with d_s = stage s's device time per micro-batch (the stage time less the
 * latencies, which are spent on the link) and K = P v:
 * <pre>
 *   pipeline  = sum_s d_s / v + (M v - 1) * max_s d_s + 2 (K - 1) * latency
 *   all-reduce (R &gt; 1) = max over stages of what their per-layer all-reduce adds after their last backward:
 *       each layer's ring pass (2 (R-1)/R * its gradient bytes / bandwidth + 2 (R-1) * latency) starts when its
 *       backward is done and the pass before it has ended, so only the tail past the bottom layer's backward shows
 *   step      = pipeline + all-reduce
 * </pre>
 * The closed form ranks the candidates; the chosen plan's pipeline time and bubble are then simulated by
 * {@link io.sparkmp.schedule.ScheduleSimulator} over the generated schedule (same device times and link
 * latencies), unless the schedule has more than {@link #MAX_SIMULATED_ACTIONS} compute actions.
 *
 * <h2>Choices (when not given)</h2>
 * <ul>
 *   <li>Candidates: P = the fewest pipeline devices on which a split fits memory (see
 *       {@code fewestThatFit}), its doublings, and for each replica count R dividing the batch the most
 *       devices R leaves, min(executors / R, layers / v); for each P, every R dividing the batch with
 *       P R &le; executors (and R &le; {@link Builder#maxReplicas}), so P and R are chosen together by predicted
 *       step. With P given, only that P. Every M dividing the per-replica batch (for interleaved
 *       also a multiple of
 *       P); schedules 1F1B and interleaved (v = 2). GPipe only when asked for: its predicted time equals
 *       1F1B's and it holds at least as many micro-batches in flight, so it could only ever tie.</li>
 *   <li>Each candidate gets the optimal partition ({@link Partitioner}); the plan is the candidate with the
 *       lowest predicted step time. Ties (within 1e-9 relative) go to fewer stages, then 1F1B over GPipe over
 *       interleaved, then fewer micro-batches. So the fewest stages that fit win unless more stages are
 *       predicted to be faster.</li>
 *   <li>Branch and bound: candidates are tried in order of a lower bound on their step time (no partition can
 *       beat {@code W / v + (M v - 1) * max(largest layer, W / K) + 2 (K - 1) latency} with W the total compute
 *       plus the cheapest cut's wire time on every link) and the search stops when
 *       the bound exceeds the best step found, which keeps planning 1000 layers on 1024 devices well under a
 *       second.</li>
 * </ul>
 * Manual overrides: {@link Builder#boundaries(int...)} or {@link Builder#boundaryNames(String...)} fix the
 * split; {@link Builder#stages}, {@link Builder#microBatches}, {@link Builder#schedule}, {@link Builder#replicas}
 * and {@link Builder#stagesPerDevice} fix the others.
 */
@io.sparkmp.Internal
public final class PipelinePlanner {

    private static final double TIE = 1e-9;
    /** Larger schedules get the closed form only: simulation memory and time grow with P v M. */
    static final long MAX_SIMULATED_ACTIONS = 1L << 21;

    private final ModelProfile profile;
    private final int executors;
    private final long budget;
    private final double bandwidth;
    private final double latency;
    private final int batchSize;
    private final Integer stages;
    private final Integer stagesPerDevice;
    private final Integer microBatches;
    private final ScheduleKind schedule;
    private final Integer replicas;
    private final int replicaLimit;
    private final String replicaLimitReason;
    private final int[] boundaries;
    private final boolean recomputeForward;
    private final RecomputeMode recomputeMode;
    private final double updateSecondsPerParameter;
    private final RuntimeCosts runtimeCosts;
    /** Tasks of the plan on one host at most, and their slowdown while all compute at once (1: none). */
    private final int tasksPerHost;
    private final double hostSlowdown;
    private final boolean fusedUpdate;
    /** Whether a device's layer sums run beside its backward (false: they share its cores, so after it). */
    private final boolean allReduceBesideBackward;

    private PipelinePlanner(Builder b) {
        runtimeCosts = b.runtimeCosts;
        tasksPerHost = b.tasksPerHost;
        hostSlowdown = b.hostSlowdown;
        fusedUpdate = b.fusedUpdate;
        allReduceBesideBackward = b.allReduceBesideBackward;
        recomputeMode = b.recomputeMode;
        recomputeForward = b.recomputeMode == RecomputeMode.ALWAYS;
        updateSecondsPerParameter = b.updateSecondsPerParameter;
        profile = b.profile;
        executors = b.executors;
        budget = b.budget;
        bandwidth = b.bandwidth;
        latency = b.latency == null ? Builder.DEFAULT_LATENCY : b.latency;
        batchSize = b.batchSize;
        stages = b.stages;
        stagesPerDevice = b.stagesPerDevice;
        microBatches = b.microBatches;
        schedule = b.schedule;
        replicas = b.replicas;
        replicaLimit = b.replicaLimit;
        replicaLimitReason = b.replicaLimitReason;
        boundaries = b.resolvedBoundaries;
    }

    /** This planner with every stage recomputing ({@code on}) or stashing. */
    private PipelinePlanner(PipelinePlanner o, boolean recompute) {
        this(o, o.microBatches, recompute ? RecomputeMode.ALWAYS : RecomputeMode.NEVER);
    }

    /** This planner with micro-batches {@code m} (null: the planner chooses) and recomputation {@code mode}. */
    private PipelinePlanner(PipelinePlanner o, Integer m, RecomputeMode mode) {
        recomputeMode = mode;
        recomputeForward = mode == RecomputeMode.ALWAYS;
        updateSecondsPerParameter = o.updateSecondsPerParameter;
        runtimeCosts = o.runtimeCosts;
        tasksPerHost = o.tasksPerHost;
        hostSlowdown = o.hostSlowdown;
        fusedUpdate = o.fusedUpdate;
        allReduceBesideBackward = o.allReduceBesideBackward;
        profile = o.profile;
        executors = o.executors;
        budget = o.budget;
        bandwidth = o.bandwidth;
        latency = o.latency;
        batchSize = o.batchSize;
        stages = o.stages;
        stagesPerDevice = o.stagesPerDevice;
        microBatches = m;
        schedule = o.schedule;
        replicas = o.replicas;
        replicaLimit = o.replicaLimit;
        replicaLimitReason = o.replicaLimitReason;
        boundaries = o.boundaries;
    }

    /** A new builder. */
    public static Builder builder() {
        return new Builder();
    }

    /** One combination of choices to evaluate. */
    private record Candidate(ScheduleKind kind, int v, int p, int r, int m, int mb, double lowerBound) {
        int kindOrder() {
            return switch (kind) {
                case ONE_F_ONE_B -> 0;
                case GPIPE -> 1;
                case INTERLEAVED_1F1B -> 2;
            };
        }
    }

    /** An evaluated candidate. */
    private record Evaluated(Candidate c, int[] boundaries, int[] inFlight, double step) {
    }

    /**
     * Plans.
     *
     * @throws InfeasiblePlanException when a single layer exceeds the budget alone, or no candidate fits;
     *     the message names the layer or stage, its bytes, the budget and the options
     */
    public PipelinePlan plan() {
        try {
            return planAnyRecompute();
        } catch (InfeasiblePlanException e) {
            PipelinePlan freeM = null;
            if (microBatches != null && boundaries == null) {
                try {
                    freeM = new PipelinePlanner(this, null, recomputeMode).planAnyRecompute();
                } catch (InfeasiblePlanException alsoWithFreeM) {
                    // reported below in the batch's terms
                }
            }
            throw new InfeasiblePlanException(e.getMessage() + MicroBatchSizing.explain(profile, budget, batchSize,
                    microBatches, freeM, recomputeMode != RecomputeMode.NEVER, bandwidth, latency));
        }
    }

    private PipelinePlan planAnyRecompute() {
        if (recomputeMode != RecomputeMode.AUTO) {
            return planOneMode();
        }
        try {
            return new PipelinePlanner(this, false).planOneMode();
        } catch (InfeasiblePlanException stashDoesNotFit) {
            // Recompute where the stash does not fit: plan with recomputation, then let each stage whose stash
            // fits its budget keep its activations (same split, only faster and still within budget).
            return new PipelinePlanner(this, true).planOneMode(true);
        }
    }

    private PipelinePlan planOneMode() {
        return planOneMode(false);
    }

    /** Plans with this planner's recomputation; {@code stashWhereItFits}: per-stage choice on the chosen split. */
    private PipelinePlan planOneMode(boolean stashWhereItFits) {
        Map<Long, StageCostModel> models = new HashMap<>();
        int minMb = smallestMicroBatch();
        checkEveryLayerFitsAlone(model(models, minMb, 1, replicas == null ? 1 : replicas));
        List<Candidate> candidates = candidates();
        if (candidates.isEmpty()) { // candidates() throws when no combination is possible at all
            throw noPlan(null, minMb); // P free, and not even the most stages fit
        }

        candidates.sort(Comparator.comparingDouble(Candidate::lowerBound).thenComparingInt(Candidate::p)
                .thenComparingInt(Candidate::kindOrder).thenComparingInt(Candidate::m));
        Evaluated best = null;
        Map<Integer, Evaluated> bestPerR = new java.util.TreeMap<>();
        String lastFailure = null;
        int solved = 0;
        for (Candidate c : candidates) {
            if (best != null && c.lowerBound() > best.step() * (1 + TIE)) {
                break;
            }
            solved++;
            StageCostModel cost = model(models, c.mb(), c.m(), c.r());
            int k = c.p() * c.v();
            int[] inFlight = c.kind() == ScheduleKind.INTERLEAVED_1F1B
                    ? InFlight.fromSchedule(Schedules.generate(c.kind(), c.p(), c.m(), c.v()))
                    : InFlight.closedForm(c.kind(), c.p(), c.v(), c.m());
            long[] budgets = new long[k];
            Arrays.fill(budgets, budget / c.v());
            int[] split;
            if (boundaries != null) {
                String bad = firstOverBudget(cost, boundaries, inFlight, budgets, c);
                if (bad != null) {
                    lastFailure = bad;
                    continue;
                }
                split = boundaries;
            } else {
                Partitioner.Partition part = new Partitioner(cost, k, budgets, inFlight).solve();
                if (part == null) {
                    continue;
                }
                split = part.boundaries();
            }
            StageCostModel[] uniform = new StageCostModel[split.length - 1];
            Arrays.fill(uniform, cost);
            double step = stepSeconds(uniform, split, c)[0];
            Evaluated e = new Evaluated(c, split, inFlight, step);
            if (best == null || better(e, best)) {
                best = e;
            }
            bestPerR.merge(c.r(), e, (x, y) -> better(y, x) ? y : x);
        }
        if (best == null) {
            throw noPlan(lastFailure, minMb);
        }
        StageCostModel chosen = model(models, best.c().mb(), best.c().m(), best.c().r());
        int k = best.boundaries().length - 1;
        StageCostModel[] perStage = new StageCostModel[k];
        Arrays.fill(perStage, chosen);
        if (stashWhereItFits) {
            StageCostModel stash = new StageCostModel(profile, best.c().mb(), bandwidth, latency, false,
                    updateSecondsPerParameter, best.c().m(), fusedUpdate && best.c().r() == 1);
            for (int s = 0; s < k; s++) {
                int a = best.boundaries()[s];
                int b = best.boundaries()[s + 1];
                if (stash.memory(a, b, best.inFlight()[s], budget / best.c().v()).fits()) {
                    perStage[s] = stash;
                }
            }
        }
        Map<Integer, Double> boundPerR = new java.util.TreeMap<>();
        for (Candidate c : candidates) {
            boundPerR.merge(c.r(), c.lowerBound(), Math::min);
        }
        return build(best, perStage, candidates.size(), solved, replicasReason(best, bestPerR, boundPerR));
    }

    /**
     * Why the plan has its R, for {@link PipelinePlan#replicasReason()}: given; limited (with the limit's reason);
     * no R &gt; 1 both dividing the batch and fitting the executors beside P; or chosen by predicted step, with the
     * best partitioned plan of each other R (R values pruned by the bound are named as such).
     */
    private String replicasReason(Evaluated best, Map<Integer, Evaluated> bestPerR, Map<Integer, Double> boundPerR) {
        int r = best.c().r();
        int p = best.c().p();
        if (replicas != null) {
            return "R = " + r + " given";
        }
        if (r == 1 && replicaLimit == 1) {
            return "R = 1: " + replicaLimitReason;
        }
        int room = executors / p;
        boolean anyDivisor = false;
        for (int d = 2; d <= Math.min(room, replicaLimit); d++) {
            anyDivisor |= batchSize % d == 0;
        }
        if (r == 1 && !anyDivisor) {
            return room < 2 ? "R = 1: P = " + p + " leaves no executor for a second replica (executors " + executors + ")"
                    : "R = 1: no R in 2.." + Math.min(room, replicaLimit) + " (executors " + executors + " / P " + p
                    + ") divides batch " + batchSize;
        }
        if (r == 1 && boundPerR.keySet().stream().noneMatch(x -> x > 1)) { // divisors exist, yet no R > 1 candidate
            return microBatches != null
                    ? "R = 1: no R in 2.." + Math.min(room, replicaLimit) + " (executors " + executors + " / P " + p
                    + ") with R x microBatches (R x " + microBatches + ") dividing batch " + batchSize
                    : "R = 1: no plan with R > 1 beside P = " + p + " (executors " + executors + ")";
        }
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "R = %d chosen by predicted step (%.3f ms)", r,
                1e3 * best.step()));
        List<String> others = new ArrayList<>();
        for (Map.Entry<Integer, Double> e : boundPerR.entrySet()) {
            Evaluated o = bestPerR.get(e.getKey());
            if (e.getKey() == r) {
                continue;
            }
            others.add(o != null ? String.format(Locale.ROOT, "R = %d best %.3f ms (P = %d, M = %d)", e.getKey(),
                    1e3 * o.step(), o.c().p(), o.c().m())
                    : String.format(Locale.ROOT, "R = %d at least %.3f ms (bound)", e.getKey(), 1e3 * e.getValue()));
        }
        if (!others.isEmpty()) {
            sb.append(" over ").append(String.join(", ", others));
        }
        if (replicaLimit < executors) {
            sb.append("; R <= ").append(replicaLimit).append(": ").append(replicaLimitReason);
        }
        return sb.toString();
    }

    /**
     * The cost model at micro-batch size mb with m micro-batches per step (m spreads the optimizer step) and r
     * replicas (r &gt; 1 sums a stage's whole gradient before its step, so no layer is updated right after its
     * backward).
     */
    private StageCostModel model(Map<Long, StageCostModel> models, int mb, int m, int r) {
        boolean fused = fusedUpdate && r == 1;
        return models.computeIfAbsent(((long) mb << 32) | ((long) m << 1) | (fused ? 1 : 0), k -> new StageCostModel(
                profile, mb, bandwidth, latency, recomputeForward, updateSecondsPerParameter, m, fused));
    }

    private static boolean better(Evaluated a, Evaluated b) {
        double scale = Math.max(Math.abs(a.step()), Math.abs(b.step()));
        if (Math.abs(a.step() - b.step()) > TIE * scale) {
            return a.step() < b.step();
        }
        if (a.c().p() != b.c().p()) {
            return a.c().p() < b.c().p();
        }
        if (a.c().kindOrder() != b.c().kindOrder()) {
            return a.c().kindOrder() < b.c().kindOrder();
        }
        return a.c().m() < b.c().m();
    }

    /** [step, pipeline, all-reduce, bubble] for a split under a candidate (closed form, see class doc). */
    private double[] stepSeconds(StageCostModel[] perStage, int[] split, Candidate c) {
        int k = split.length - 1;
        double sum = 0;
        double max = 0;
        double[] exposedPerDevice = new double[c.p()];
        for (int s = 0; s < k; s++) {
            StageCostModel cost = perStage[s];
            // Device time: latency is spent on the link, not the device (as in ScheduleSimulator).
            double t = cost.time(split[s], split[s + 1]) - latency * ((s > 0 ? 1 : 0) + (s < k - 1 ? 1 : 0));
            t = Math.max(t, cost.compute(split[s], split[s + 1]) + cost.recompute(split[s], split[s + 1])
                    + cost.update(split[s], split[s + 1]) / c.m());
            sum += t;
            max = Math.max(max, t);
            if (c.r() > 1) {
                // What of the stage's all-reduce outlasts its last backward (the rest runs beside it).
                double lastBackward = lastBackwardSeconds(cost, split[s], split[s + 1]);
                exposedPerDevice[s % c.p()] = Math.max(exposedPerDevice[s % c.p()], Math.max(0,
                        sumsDone(layerAllReduces(cost, split[s], split[s + 1], c.r())) - lastBackward));
            }
        }
        // The first forward and the last backward cross every link once each. On a shared host the steady part,
        // where every device computes, runs at the speed of all of them at once; the fill and drain at that of
        // the copies alone (the simulation charges each overlap as it comes).
        HostSharing shared = sharing(c.p(), c.r());
        double pipeline = sum / c.v() * shared.slowdown(shared.copies())
                + ((double) c.m() * c.v() - 1) * max * shared.slowdown(shared.tasksPerHost()) + 2.0 * (k - 1) * latency;
        double allreduce = 0;
        for (double x : exposedPerDevice) {
            allreduce = Math.max(allreduce, x);
        }
        double busy = c.m() * sum;
        double bubble = pipeline > 0 ? Math.max(0, 1 - busy / (c.p() * pipeline)) : 0;
        return new double[] {pipeline + allreduce, pipeline, allreduce, bubble};
    }

    /**
     * Device seconds of stage [a, b)'s last backward of a mini-batch, as the runtime runs it: on the last stage
     * the forward and the loss come first (DL4J's {@code calculateGradients}), elsewhere a recomputed forward when
     * the stage recomputes; then the layers' backwards, top layer first.
     */
    private static double lastBackwardSeconds(StageCostModel cost, int a, int b) {
        return before(cost, a, b) + cost.backward(a, b);
    }

    private static double before(StageCostModel cost, int a, int b) {
        return b == cost.layers() ? cost.forward(a, b) : cost.recompute(a, b);
    }

    /**
     * With r &gt; 1: stage [a, b)'s layer sums as the runtime runs them (none when r = 1): layer i's gradient is
     * handed over when its backward in the stage's last backward is done (top layer first, after the forward and
     * loss on the last stage or a recomputed forward), and its ring pass takes
     * 2 (r - 1) / r * bytes / bandwidth + 2 (r - 1) * latency; layers without parameters have nothing to sum.
     * Without {@link Builder#allReduceBesideBackward} every sum is handed over when the whole backward is done: the
     * sums then run after it, one after another.
     */
    private List<io.sparkmp.schedule.LayerAllReduce> layerAllReduces(StageCostModel cost, int a, int b, int r) {
        if (r <= 1) {
            return List.of();
        }
        List<io.sparkmp.schedule.LayerAllReduce> out = new ArrayList<>();
        double ready = before(cost, a, b);
        double whole = lastBackwardSeconds(cost, a, b);
        for (int i = b - 1; i >= a; i--) {
            ready += cost.backward(i, i + 1);
            long bytes = profile.layer(i).gradientBytes();
            if (bytes > 0) {
                out.add(new io.sparkmp.schedule.LayerAllReduce(allReduceBesideBackward ? ready : whole,
                        2.0 * (r - 1) / r * bytes / bandwidth + 2.0 * (r - 1) * latency));
            }
        }
        return out;
    }

    /**
     * From the start of the last backward until the last of {@code sums} is done, one after another each from its
     * hand-over (the closed form's view of one stage; the simulation also queues other virtual stages' sums).
     */
    private static double sumsDone(List<io.sparkmp.schedule.LayerAllReduce> sums) {
        double free = 0;
        for (io.sparkmp.schedule.LayerAllReduce x : sums) {
            free = Math.max(free, x.readySeconds()) + x.seconds();
        }
        return free;
    }

    private PipelinePlan build(Evaluated e, StageCostModel[] perStage, int considered, int solved, String why) {
        Candidate c = e.c();
        int[] split = e.boundaries();
        int k = split.length - 1;
        List<StagePlan> out = new ArrayList<>(k);
        for (int s = 0; s < k; s++) {
            StageCostModel cost = perStage[s];
            int a = split[s];
            int b = split[s + 1];
            List<String> names = new ArrayList<>(b - a);
            for (int i = a; i < b; i++) {
                names.add(profile.layer(i).name());
            }
            out.add(new StagePlan(s, s % c.p(), a, b, names, cost.parameters(a, b),
                    cost.memory(a, b, e.inFlight()[s], budget / c.v()), cost.forward(a, b), cost.backward(a, b) + cost.recompute(a, b),
                    cost.cut(a) + cost.cut(b), cost.time(a, b), cost.cutBytes(b), cost.cutBytes(a),
                    cost.recomputeForward() && b < cost.layers(),
                    profile.isGraph() && b < profile.layerCount() ? profile.cutTensors(b) : List.of(),
                    layerAllReduces(cost, a, b, c.r()), cost.deferredWeightGradient(a, b)));
        }
        double[] t = stepSeconds(perStage, split, c);
        // Closed form: the measured per-step overhead and the loads add to the pipeline as they stand.
        double pipeline = t[1] + runtimeCosts.stepSeconds() + c.m() * runtimeCosts.load(c.mb());
        PipelinePlan closed = new PipelinePlan(split, c.kind(), c.p(), c.v(), c.m(), c.r(), batchSize, c.mb(), out,
                pipeline, t[2], pipeline + t[2], t[3], "closed form", profile.timeSource(), budget, bandwidth, considered,
                solved, runtimeCosts, why, sharing(c.p(), c.r()));
        long actions = 2L * k * c.m();
        if (actions > MAX_SIMULATED_ACTIONS) {
            return closed.withPipeline(pipeline, t[3], "closed form: " + actions + " actions > " + MAX_SIMULATED_ACTIONS
                    + " to simulate");
        }
        // The schedule the runtime executes (communication and control actions included), with the plan's costs:
        // the same simulation the predicted timeline shows.
        SimulationResult sim = ScheduleSimulator.simulate(ControlTraffic.lowered(c.kind(), c.p(), c.m(), c.v(), c.r()),
                new PlanActionCosts(closed));
        String method = "simulated" + (updateSecondsPerParameter > 0 ? " + optimizer step" : "")
                + (runtimeCosts.measured() ? " + measured runtime costs" : "");
        if (c.r() > 1) { // the simulated step holds the ALLREDUCE actions: the all-reduce is not added on top
            // The pipeline alone (same costs, no ALLREDUCE): the all-reduce is what the step adds to it, the part
            // of the per-layer sums the backward does not hide.
            double alone = ScheduleSimulator.simulate(ControlTraffic.lowered(c.kind(), c.p(), c.m(), c.v(), 1),
                    new PlanActionCosts(closed)).makespan();
            return closed.withSimulatedStep(sim.makespan(), alone, sim.bubbleFraction(),
                    method + (allReduceBesideBackward ? " + all-reduce overlapped per layer"
                            : " + all-reduce after the backward (it shares the device's cores)"));
        }
        return closed.withPipeline(sim.makespan(), sim.bubbleFraction(), method);
    }

    /**
     * How a candidate's devices share hosts: P devices x R replicas fill hosts of {@link #tasksPerHost} tasks in
     * order, so a host holds min(P, tasks) consecutive devices of a replica and, when P is smaller, the same devices
     * of up to tasks / P replicas (copies in lock-step); the slowdown with all of them computing is the measured
     * one scaled linearly to their number.
     */
    HostSharing sharing(int p, int r) {
        if (tasksPerHost <= 1 || hostSlowdown <= 1) {
            return HostSharing.NONE;
        }
        int devices = Math.min(p, tasksPerHost);
        int copies = p >= tasksPerHost ? 1 : Math.max(1, Math.min(r, tasksPerHost / p));
        int tasks = devices * copies;
        if (tasks <= 1) {
            return HostSharing.NONE;
        }
        return new HostSharing(devices, copies, 1 + (hostSlowdown - 1) * (tasks - 1) / (tasksPerHost - 1));
    }

    /** Every combination allowed by the fixed choices, with its lower bound. */
    private List<Candidate> candidates() {
        int layers = profile.layerCount();
        List<ScheduleKind> kinds = new ArrayList<>();
        if (schedule != null) {
            kinds.add(schedule);
        } else if (stagesPerDevice != null && stagesPerDevice > 1) {
            kinds.add(ScheduleKind.INTERLEAVED_1F1B);
        } else {
            // GPipe is not a candidate unless asked for: its predicted time equals 1F1B's and it holds at least
            // as many micro-batches in flight, so 1F1B wins every tie.
            kinds.add(ScheduleKind.ONE_F_ONE_B);
            // Manual boundaries without v mean one stage per device: P = number of stages.
            if (stagesPerDevice == null && boundaries == null) {
                kinds.add(ScheduleKind.INTERLEAVED_1F1B);
            }
        }
        List<Candidate> out = new ArrayList<>();
        boolean memoryRuledOut = false;
        for (ScheduleKind kind : kinds) {
            int v = kind == ScheduleKind.INTERLEAVED_1F1B ? (stagesPerDevice != null ? stagesPerDevice : 2) : 1;
            if (boundaries != null && (boundaries.length - 1) % v != 0) {
                continue;
            }
            List<int[]> pairs = devicesAndReplicas(kind, v, layers);
            memoryRuledOut |= pairs == null;
            for (int[] pr : pairs == null ? List.<int[]>of() : pairs) {
                int p = pr[0];
                int r = pr[1];
                if (kind == ScheduleKind.INTERLEAVED_1F1B && p == 1 && schedule == null && stagesPerDevice == null) {
                    // One device's virtual stages shrink no bubble, they only add calls; chosen freely they were
                    // a way for the closed form to overlap the replicas' sums with the device's own backward.
                    continue;
                }
                int perReplica = batchSize / r;
                for (int m = 1; m <= perReplica; m++) {
                    if (perReplica % m != 0 || (microBatches != null && m != microBatches)) {
                        continue;
                    }
                    if (kind == ScheduleKind.INTERLEAVED_1F1B && m % p != 0) {
                        continue;
                    }
                    out.add(new Candidate(kind, v, p, r, m, perReplica / m, 0));
                }
            }
        }
        if (out.isEmpty()) {
            if (memoryRuledOut) {
                return out;
            }
            throw new IllegalArgumentException(noCandidateMessage());
        }
        Map<Integer, double[]> stats = new HashMap<>();
        List<Candidate> bounded = new ArrayList<>(out.size());
        for (Candidate c : out) {
            double[] st = stats.computeIfAbsent(c.mb(), this::boundStats);
            int k = c.p() * c.v();
            double wire = 2.0 * (k - 1) * st[2];
            double bottleneck = Math.max(st[1], (st[0] + wire) / k);
            double lb = (st[0] + wire) / c.v() + ((double) c.m() * c.v() - 1) * bottleneck + 2.0 * (k - 1) * latency;
            bounded.add(new Candidate(c.kind(), c.v(), c.p(), c.r(), c.m(), c.mb(), lb));
        }
        return bounded;
    }

    /** [total compute, largest layer, cheapest cut] at micro-batch size mb. */
    private double[] boundStats(int mb) {
        StageCostModel m = new StageCostModel(profile, mb, bandwidth, latency, recomputeForward);
        double largest = 0;
        double minCut = Double.POSITIVE_INFINITY;
        for (int i = 0; i < m.layers(); i++) {
            largest = Math.max(largest, m.compute(i, i + 1));
            if (i > 0) {
                minCut = Math.min(minCut, m.cut(i));
            }
        }
        return new double[] {m.compute(0, m.layers()), largest, m.layers() > 1 ? minCut : 0};
    }

    private String noCandidateMessage() {
        StringBuilder sb = new StringBuilder("no (stages, replicas, micro-batches, schedule) combination is possible: ");
        sb.append("layers ").append(profile.layerCount()).append(", executors ").append(executors)
                .append(", batchSize ").append(batchSize);
        if (stages != null) {
            sb.append(", stages ").append(stages);
        }
        if (stagesPerDevice != null) {
            sb.append(", stagesPerDevice ").append(stagesPerDevice);
        }
        if (replicas != null) {
            sb.append(", replicas ").append(replicas);
        }
        if (microBatches != null) {
            sb.append(", microBatches ").append(microBatches);
        }
        if (schedule != null) {
            sb.append(", schedule ").append(schedule.label());
        }
        if (boundaries != null) {
            sb.append(", boundaries ").append(Arrays.toString(boundaries));
        }
        if (schedule == ScheduleKind.INTERLEAVED_1F1B) {
            sb.append(" (interleaved needs microBatches to be a multiple of the devices P)");
        }
        return sb.toString();
    }

    /**
     * The (P, R) pairs to consider for a schedule with v stages per device. With P fixed (stages or boundaries)
     * only that P. Otherwise: the fewest stages that fit ({@link #fewestThatFit}), its doublings, and for each
     * replica count R dividing the batch the most pipeline devices R leaves, min(executors / R, layers / v)
     * (a finer split is faster when there are many micro-batches); for every P, R = each divisor of
     * the batch &le; executors / P (or the given R) and every smaller R dividing the batch. Null when P is free
     * and no P fits memory.
     */
    private List<int[]> devicesAndReplicas(ScheduleKind kind, int v, int layers) {
        List<int[]> out = new ArrayList<>();
        Integer fixedP = boundaries != null ? Integer.valueOf((boundaries.length - 1) / v) : stages;
        java.util.TreeSet<Integer> ps = new java.util.TreeSet<>();
        int cap = Math.min(executors, layers / v);
        if (fixedP != null) {
            ps.add(fixedP);
        } else {
            int fewest = fewestThatFit(kind, v, cap);
            if (fewest < 0) {
                return null; // nothing fits even at the most stages: reported by plan()
            }
            for (long p = fewest; p <= cap; p *= 2) {
                ps.add((int) p);
            }
            for (int r0 = 1; r0 <= Math.min(executors, replicaLimit); r0++) {
                if (batchSize % r0 == 0 && (replicas == null || r0 == replicas)) {
                    int p = Math.min(executors / r0, cap);
                    if (p >= fewest) {
                        ps.add(p);
                    }
                }
            }
        }
        for (int p : ps) {
            if (p < 1 || (long) p * v > layers) {
                continue;
            }
            if (replicas != null) {
                if ((long) p * replicas <= executors) {
                    out.add(new int[] {p, replicas});
                }
                continue;
            }
            // Every R that divides the batch and fits beside P: the predicted step decides (a larger R shortens
            // each replica's pipeline but adds the all-reduce, which a slow link can make the larger cost).
            for (int r = 1; r <= Math.min(executors / p, replicaLimit); r++) {
                if (batchSize % r == 0) {
                    out.add(new int[] {p, r});
                }
            }
        }
        return out;
    }

    /**
     * The fewest pipeline devices P (&le; cap) on which some split fits memory, at the smallest micro-batch
     * size any candidate uses and the schedule's in-flight counts with many micro-batches; -1 if even cap does
     * not fit. Starts at ceil(parameters+gradients+updater / budget), gallops (doubling) to a P that fits, then
     * binary-searches below it: this assumes that more stages never need more memory per device, which holds
     * but for corner cases (1F1B's first stage holds P micro-batches); a plan is checked exactly in any case.
     */
    private int fewestThatFit(ScheduleKind kind, int v, int cap) {
        if (cap < 1) {
            return -1;
        }
        StageCostModel cost = new StageCostModel(profile, smallestMicroBatch(), bandwidth, latency, recomputeForward,
                0, 1, fusedUpdate);
        long staticTotal = cost.staticBytes(0, profile.layerCount());
        long lo = Math.max(1, (staticTotal + budget - 1) / budget);
        if (lo > cap) {
            return -1;
        }
        int bad = (int) lo - 1;
        int p = (int) lo;
        while (!fitsMemory(cost, kind, p, v)) {
            if (p == cap) {
                return -1;
            }
            bad = p;
            p = (int) Math.min(2L * p, cap);
        }
        while (p - bad > 1) {
            int mid = (bad + p) >>> 1;
            if (fitsMemory(cost, kind, mid, v)) {
                p = mid;
            } else {
                bad = mid;
            }
        }
        return p;
    }

    private boolean fitsMemory(StageCostModel cost, ScheduleKind kind, int p, int v) {
        int k = p * v;
        long[] budgets = new long[k];
        Arrays.fill(budgets, budget / v);
        int many = Integer.MAX_VALUE / Math.max(1, 4 * v);
        int[] inFlight = InFlight.closedForm(kind == ScheduleKind.GPIPE ? ScheduleKind.ONE_F_ONE_B : kind, p, v, many);
        if (kind == ScheduleKind.GPIPE) {
            Arrays.fill(inFlight, microBatches != null ? microBatches : 1);
        }
        return new Partitioner(cost, k, budgets, inFlight).decide(Double.POSITIVE_INFINITY) != null;
    }

    /** The smallest micro-batch size any (R, M) candidate can have. */
    private int smallestMicroBatch() {
        if (microBatches == null) {
            return 1;
        }
        int best = Integer.MAX_VALUE;
        for (int r = 1; r <= Math.min(executors, replicaLimit); r++) {
            if (batchSize % r == 0 && (replicas == null || r == replicas) && (batchSize / r) % microBatches == 0) {
                best = Math.min(best, batchSize / r / microBatches);
            }
        }
        return best == Integer.MAX_VALUE ? 1 : best;
    }

    private void checkEveryLayerFitsAlone(StageCostModel cost) {
        for (int i = 0; i < profile.layerCount(); i++) {
            StageMemory m = cost.memory(i, i + 1, 1, budget);
            if (!m.fits()) {
                LayerProfile l = profile.layer(i);
                throw new InfeasiblePlanException(String.format(Locale.ROOT,
                        "layer %d '%s' (%s) alone needs %s (%d bytes: parameters+gradients+updater %s, activations "
                                + "for 1 micro-batch of %d %s, working %s, receive buffers %s) but the budget is %s "
                                + "(%d bytes) per device; options: more memory per device (spark.mp.device.memory or "
                                + "executor off-heap), a smaller batch or micro-batch, activation recomputation",
                        i, l.name(), l.type(), PipelinePlan.bytes(m.totalBytes()), m.totalBytes(),
                        PipelinePlan.bytes(m.parameterBytes() + m.gradientBytes() + m.updaterBytes()),
                        cost.microBatchSize(), PipelinePlan.bytes(m.activationBytes()),
                        PipelinePlan.bytes(m.workingBytes()), PipelinePlan.bytes(m.receiveBytes()),
                        PipelinePlan.bytes(budget), budget));
            }
        }
    }

    /** Message for the first stage of a manual split over its budget, or null if all fit. */
    private static String firstOverBudget(StageCostModel cost, int[] split, int[] inFlight, long[] budgets, Candidate c) {
        for (int s = 0; s + 1 < split.length; s++) {
            StageMemory m = cost.memory(split[s], split[s + 1], inFlight[s], budgets[s]);
            if (!m.fits()) {
                return String.format(Locale.ROOT,
                        "stage %d (layers %d..%d) needs %s (%d bytes) > budget %s (%d bytes) with schedule %s, "
                                + "%d micro-batches of %d, %d in flight",
                        s, split[s], split[s + 1] - 1, PipelinePlan.bytes(m.totalBytes()), m.totalBytes(),
                        PipelinePlan.bytes(budgets[s]), budgets[s], c.kind().label(), c.m(), c.mb(), inFlight[s]);
            }
        }
        return null;
    }

    private InfeasiblePlanException noPlan(String lastFailure, int minMb) {
        // The least any split holds for the model's state: one micro-batch per step, each layer updated after its
        // backward (when fusing is allowed), so parameters and updater state plus one layer's gradient (see
        // StageCostModel); without fusing, every gradient too.
        long staticTotal = new StageCostModel(profile, 1, bandwidth, latency, false, 0, 1, fusedUpdate)
                .staticBytes(0, profile.layerCount());
        String where = boundaries != null ? "the given boundaries " + Arrays.toString(boundaries)
                : stages != null ? "any split into " + stages + " stages"
                : "any split over 1.." + Math.min(executors, profile.layerCount()) + " stages";
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT,
                "no feasible plan: %s of %d layers does not fit %s (%d bytes) per device with %d executors, batch %d "
                        + "(smallest micro-batch tried: %d)",
                where, profile.layerCount(), PipelinePlan.bytes(budget), budget, executors, batchSize, minMb));
        sb.append(String.format(Locale.ROOT, "; parameters+updater state+largest layer's gradient total %s = %.2f device budgets",
                PipelinePlan.bytes(staticTotal), (double) staticTotal / budget));
        if (lastFailure != null) {
            sb.append("; e.g. ").append(lastFailure);
        }
        sb.append("; options: more devices or memory per device, a smaller batch or micro-batch, "
                + "activation recomputation");
        return new InfeasiblePlanException(sb.toString());
    }

    /**
     * Collects the planner's inputs. Each setter may be called once (a second call is an error); required:
     * profile, executors, deviceMemoryBytes, bandwidthBytesPerSecond, batchSize. {@link #build()} checks the
     * cross-field rules and does not change the builder.
     */
    public static final class Builder {

        /** Default per-message latency: 100 microseconds, a TCP round trip between hosts. */
        public static final double DEFAULT_LATENCY = 1e-4;

        private ModelProfile profile;
        private int executors;
        private long budget;
        private double bandwidth;
        private Double latency;
        private int batchSize;
        private Integer stages;
        private Integer stagesPerDevice;
        private Integer microBatches;
        private ScheduleKind schedule;
        private Integer replicas;
        private int replicaLimit = Integer.MAX_VALUE;
        private String replicaLimitReason = "";
        private int[] boundaryIndices;
        private String[] boundaryNames;
        private int[] resolvedBoundaries;
        private RecomputeMode recomputeMode = RecomputeMode.NEVER;
        private double updateSecondsPerParameter;
        private RuntimeCosts runtimeCosts = RuntimeCosts.NONE;
        private int tasksPerHost = 1;
        private double hostSlowdown = 1;
        private boolean fusedUpdate = true;
        private boolean allReduceBesideBackward = true;
        private final java.util.Set<String> set = new java.util.HashSet<>();

        private Builder() {
        }

        private void once(String what) {
            if (!set.add(what)) {
                throw new IllegalStateException(what + " was already set");
            }
        }

        /** Per-layer profile of the model (required). */
        public Builder profile(ModelProfile p) {
            once("profile");
            if (p == null) {
                throw new IllegalArgumentException("profile must not be null");
            }
            profile = p;
            return this;
        }

        /** Devices (executors, one per GPU) available: P * R may use up to this many (required, &gt; 0). */
        public Builder executors(int n) {
            once("executors");
            if (n <= 0) {
                throw new IllegalArgumentException("executors must be positive, found " + n);
            }
            executors = n;
            return this;
        }

        /**
         * Memory budget per device in bytes (required, &gt; 0): from executor memory / the off-heap limit, or
         * {@code spark.mp.device.memory}.
         */
        public Builder deviceMemoryBytes(long bytes) {
            once("deviceMemoryBytes");
            if (bytes <= 0) {
                throw new IllegalArgumentException("deviceMemoryBytes must be positive, found " + bytes);
            }
            budget = bytes;
            return this;
        }

        /** Link bandwidth between stages (and replicas) in bytes/s (required, &gt; 0). */
        public Builder bandwidthBytesPerSecond(double bytesPerSecond) {
            once("bandwidthBytesPerSecond");
            if (!(bytesPerSecond > 0) || Double.isInfinite(bytesPerSecond)) {
                throw new IllegalArgumentException("bandwidthBytesPerSecond must be positive and finite, found "
                        + bytesPerSecond);
            }
            bandwidth = bytesPerSecond;
            return this;
        }

        /** Per-message latency in seconds (default {@link #DEFAULT_LATENCY}). */
        public Builder latencySeconds(double seconds) {
            once("latencySeconds");
            if (!(seconds >= 0) || Double.isInfinite(seconds)) {
                throw new IllegalArgumentException("latencySeconds must be finite and >= 0, found " + seconds);
            }
            latency = seconds;
            return this;
        }

        /** Global mini-batch per optimizer step, over all replicas (required, &gt; 0). */
        public Builder batchSize(int n) {
            once("batchSize");
            if (n <= 0) {
                throw new IllegalArgumentException("batchSize must be positive, found " + n);
            }
            batchSize = n;
            return this;
        }

        /** Fixes the number of pipeline devices P (stages per replica, before interleaving). */
        public Builder stages(int p) {
            once("stages");
            if (p <= 0) {
                throw new IllegalArgumentException("stages must be positive, found " + p);
            }
            stages = p;
            return this;
        }

        /** Fixes virtual stages per device v (&gt; 1 means interleaved 1F1B). */
        public Builder stagesPerDevice(int v) {
            once("stagesPerDevice");
            if (v <= 0) {
                throw new IllegalArgumentException("stagesPerDevice must be positive, found " + v);
            }
            stagesPerDevice = v;
            return this;
        }

        /** Fixes micro-batches per mini-batch per replica M; must divide batchSize / replicas. */
        public Builder microBatches(int m) {
            once("microBatches");
            if (m <= 0) {
                throw new IllegalArgumentException("microBatches must be positive, found " + m);
            }
            microBatches = m;
            return this;
        }

        /** Fixes the schedule. */
        public Builder schedule(ScheduleKind kind) {
            once("schedule");
            if (kind == null) {
                throw new IllegalArgumentException("schedule must not be null");
            }
            schedule = kind;
            return this;
        }

        /** Fixes data-parallel replicas R; must divide batchSize, and P * R &le; executors. */
        public Builder replicas(int r) {
            once("replicas");
            if (r <= 0) {
                throw new IllegalArgumentException("replicas must be positive, found " + r);
            }
            replicas = r;
            return this;
        }

        /**
         * Caps R when the planner chooses it (R not {@link #replicas fixed}); {@code reason} says why, and the plan's
         * {@link PipelinePlan#replicasReason()} repeats it (e.g. 1: the model has BatchNormalization, whose
         * statistics would be per replica).
         */
        public Builder maxReplicas(int max, String reason) {
            once("maxReplicas");
            if (max <= 0) {
                throw new IllegalArgumentException("maxReplicas must be positive, found " + max);
            }
            if (reason == null || reason.isBlank()) {
                throw new IllegalArgumentException("maxReplicas needs a reason");
            }
            replicaLimit = max;
            replicaLimitReason = reason;
            return this;
        }

        /**
         * Whether the runtime re-runs a stage's forward before each backward on every stage but the last
         * (activation recomputation, as spark-mp's runtime does; default false): the forward time of non-last
         * stages is then charged twice, in the partition, the step time and the simulation, and
         * {@link StagePlan#backwardSeconds()} includes it. Memory then counts, per stage, the input of each
         * micro-batch in flight and the activations of one (the runtime keeps no more).
         */
        public Builder recomputeForward(boolean on) {
            return recompute(on ? RecomputeMode.ALWAYS : RecomputeMode.NEVER);
        }

        /**
         * Whether the runtime may update each layer right after its backward in a step of one micro-batch (default
         * true), so that no stage holds more than one layer's gradient. Off when every step must stay undoable until
         * its end, as with {@code spark.mp.nonFinite=skip}: then a one-micro-batch step holds every gradient of its
         * stage, as a step of several does.
         */
        public Builder fusedUpdate(boolean allowed) {
            once("fusedUpdate");
            fusedUpdate = allowed;
            return this;
        }

        /**
         * Whether a device's layer sums (replicas' all-reduce) run beside its backward (default true: a GPU computes
         * while the host moves and sums the gradients). False when they share the device's cores, as on ND4J's CPU
         * backend, where the all-reduce thread's socket copies and sums take the cores the backward runs on: then
         * each sum is charged after the stage's last backward, one after another.
         */
        public Builder allReduceBesideBackward(boolean beside) {
            once("allReduceBesideBackward");
            allReduceBesideBackward = beside;
            return this;
        }

        /**
         * Activation recomputation (default {@link RecomputeMode#NEVER}): {@code ALWAYS} as
         * {@link #recomputeForward(boolean) recomputeForward(true)}; {@code AUTO} plans with the stash when that
         * fits, else with recomputation and then lets each stage whose stash fits its budget keep its
         * activations ({@link StagePlan#recompute()} tells per stage).
         */
        public Builder recompute(RecomputeMode mode) {
            once("recomputeForward");
            if (mode == null) {
                throw new IllegalArgumentException("recompute must not be null");
            }
            recomputeMode = mode;
            return this;
        }

        /**
         * Optimizer step time per parameter (default 0: not modelled). Every stage runs the step once per
         * mini-batch on its own parameters (e.g. Adam on one CPU thread: about 20 ns per parameter), so a stage
         * holding many parameters is slower by that much: the partition balances it (as update / M per
         * micro-batch) and the predicted step adds each device's update after its last action.
         */
        public Builder updateSecondsPerParameter(double seconds) {
            once("updateSecondsPerParameter");
            if (!(seconds >= 0) || Double.isInfinite(seconds)) {
                throw new IllegalArgumentException("updateSecondsPerParameter must be finite and >= 0, found " + seconds);
            }
            updateSecondsPerParameter = seconds;
            return this;
        }

        /**
         * The runtime's measured message, LOAD and per-step costs (default {@link RuntimeCosts#NONE}): the
         * simulated step time charges them to the actions of the schedule the runtime executes (see
         * {@link PlanActionCosts}); the partition and the ranking of candidates keep the bandwidth and latency.
         */
        public Builder runtimeCosts(RuntimeCosts costs) {
            once("runtimeCosts");
            if (costs == null) {
                throw new IllegalArgumentException("runtimeCosts must not be null");
            }
            runtimeCosts = costs;
            return this;
        }

        /**
         * How the executors share hosts (default: one task per host, nothing slowed): up to {@code tasksPerHost}
         * tasks of the plan run on one host, and while all of them compute at once each action takes
         * {@code slowdown} times its profiled time (fewer at once: linear from 1). The simulated step and the
         * ranking of candidates charge it where the schedule makes a host's tasks compute at once
         * ({@link HostSharing}).
         *
         * @throws IllegalArgumentException when tasksPerHost &lt; 1 or slowdown is not finite and &gt;= 1
         */
        public Builder hostSharing(int tasksPerHost, double slowdown) {
            once("hostSharing");
            if (tasksPerHost < 1) {
                throw new IllegalArgumentException("tasksPerHost must be >= 1, found " + tasksPerHost);
            }
            if (!(slowdown >= 1) || Double.isInfinite(slowdown)) {
                throw new IllegalArgumentException("host slowdown must be finite and >= 1, found " + slowdown);
            }
            this.tasksPerHost = tasksPerHost;
            this.hostSlowdown = slowdown;
            return this;
        }

        /**
         * Fixes the split by layer indices: {@code [0, b1, ..., L]}, strictly increasing, P * v + 1 values.
         * Not together with {@link #boundaryNames(String...)}.
         */
        public Builder boundaries(int... b) {
            once("boundaries");
            if (b == null) {
                throw new IllegalArgumentException("boundaries must not be null");
            }
            boundaryIndices = b.clone();
            return this;
        }

        /**
         * Fixes the split by layer names: each name is the first layer of a new stage (layer 0 starts stage 0
         * and must not be named), in forward order. Not together with {@link #boundaries(int...)}.
         */
        public Builder boundaryNames(String... names) {
            once("boundaryNames");
            if (names == null) {
                throw new IllegalArgumentException("boundaryNames must not be null");
            }
            boundaryNames = names.clone();
            return this;
        }

        /**
         * Checks the inputs and their cross-field rules.
         *
         * @throws IllegalArgumentException naming the value and the limit
         * @throws IllegalStateException when a required input is missing
         */
        public PipelinePlanner build() {
            for (String req : List.of("profile", "executors", "deviceMemoryBytes", "bandwidthBytesPerSecond",
                    "batchSize")) {
                if (!set.contains(req)) {
                    throw new IllegalStateException(req + " is required but was not set");
                }
            }
            int layers = profile.layerCount();
            int v = stagesPerDevice == null ? 1 : stagesPerDevice;
            if (stagesPerDevice != null && schedule != null) {
                PipelineRules.requireStagesPerDevice(schedule, stagesPerDevice);
            }
            if (schedule == ScheduleKind.INTERLEAVED_1F1B && stagesPerDevice == null) {
                v = 2;
            }
            if (stages != null && stages > executors) {
                throw new IllegalArgumentException("stages (" + stages + ") exceed executors (" + executors + ")");
            }
            if (stages != null) {
                PipelineRules.requireLayersPerStage(stages, v, layers);
            }
            if (replicas != null && replicas > replicaLimit) {
                throw new IllegalArgumentException("replicas (" + replicas + ") exceed maxReplicas (" + replicaLimit
                        + "): " + replicaLimitReason);
            }
            if (replicas != null) {
                if (batchSize % replicas != 0) {
                    throw new IllegalArgumentException("replicas (" + replicas + ") must divide batchSize ("
                            + batchSize + ")");
                }
                if (replicas > executors) {
                    throw new IllegalArgumentException("replicas (" + replicas + ") exceed executors ("
                            + executors + ")");
                }
                if (stages != null && (long) stages * replicas > executors) {
                    throw new IllegalArgumentException("stages x replicas (" + stages + " x " + replicas + " = "
                            + stages * replicas + ") exceed executors (" + executors + ")");
                }
            }
            if (microBatches != null && (replicas == null || replicas == 1)) {
                PipelineRules.requireMicroBatchesDivide(microBatches, batchSize);
            } else if (microBatches != null) {
                int perReplica = batchSize / replicas;
                if (microBatches > perReplica || perReplica % microBatches != 0) {
                    throw new IllegalArgumentException("microBatches (" + microBatches + ") must divide the batch per "
                            + "replica (" + perReplica + " = batchSize " + batchSize + " / replicas "
                            + (replicas == null ? 1 : replicas) + ")");
                }
            }
            if (boundaryIndices != null && boundaryNames != null) {
                throw new IllegalArgumentException("give boundaries or boundaryNames, not both");
            }
            resolvedBoundaries = null;
            if (boundaryNames != null) {
                int[] b = new int[boundaryNames.length + 2];
                for (int i = 0; i < boundaryNames.length; i++) {
                    int idx = profile.indexOf(boundaryNames[i]);
                    if (idx == 0) {
                        throw new IllegalArgumentException("boundary name '" + boundaryNames[i]
                                + "' is layer 0, which always starts stage 0; name only the first layers of later stages");
                    }
                    b[i + 1] = idx;
                }
                b[b.length - 1] = layers;
                checkBoundaries(b, layers, "boundaryNames " + Arrays.toString(boundaryNames));
                resolvedBoundaries = b;
            } else if (boundaryIndices != null) {
                checkBoundaries(boundaryIndices, layers, "boundaries " + Arrays.toString(boundaryIndices));
                resolvedBoundaries = boundaryIndices.clone();
            }
            if (resolvedBoundaries != null) {
                int k = resolvedBoundaries.length - 1;
                if (stages != null && k != stages * v) {
                    throw new IllegalArgumentException("boundaries give " + k + " stages but stages x stagesPerDevice = "
                            + stages + " x " + v + " = " + stages * v);
                }
                if (k % v != 0) {
                    throw new IllegalArgumentException("boundaries give " + k + " stages, not a multiple of "
                            + "stagesPerDevice (" + v + ")");
                }
                if (k / v > executors) {
                    throw new IllegalArgumentException("boundaries give " + k / v + " pipeline devices, more than "
                            + "executors (" + executors + ")");
                }
            }
            return new PipelinePlanner(this);
        }

        private static void checkBoundaries(int[] b, int layers, String what) {
            if (b.length < 2) {
                throw new IllegalArgumentException(what + ": need at least [0, " + layers + "]");
            }
            if (b[0] != 0 || b[b.length - 1] != layers) {
                throw new IllegalArgumentException(what + ": must start at 0 and end at the layer count (" + layers
                        + "), found " + b[0] + " .. " + b[b.length - 1]);
            }
            for (int i = 1; i < b.length; i++) {
                if (b[i] <= b[i - 1]) {
                    throw new IllegalArgumentException(what + ": must be strictly increasing (every stage non-empty), "
                            + "found " + b[i - 1] + " then " + b[i] + " at position " + i);
                }
            }
        }
    }
}
