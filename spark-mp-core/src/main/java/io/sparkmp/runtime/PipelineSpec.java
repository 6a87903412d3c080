package io.sparkmp.runtime;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.SortedSet;
import java.util.TreeSet;

import io.sparkmp.model.ModelSlicer;
import io.sparkmp.schedule.ControlTraffic;
import io.sparkmp.schedule.PipelineRules;
import io.sparkmp.schedule.Schedule;
import io.sparkmp.schedule.ScheduleKind;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;

/**
 * Everything a pipeline rank needs to build its stages and run its schedule; immutable and
 * serializable (broadcast to every task).
 *
 * <p>Mini-batches: every mini-batch must hold a multiple of {@code microBatches} examples (all
 * micro-batches of a step have the same size). {@code batchSize} is the nominal mini-batch size and must
 * itself be divisible; a smaller last mini-batch of an epoch is accepted if it is divisible too, and
 * rejected otherwise (drop it or pick sizes that divide). Gradients are averaged over the actual
 * mini-batch, as DL4J's {@code fit} does.
 *
 * @param modelJson the model, {@code MultiLayerConfiguration.toJson()} (built with {@code setInputType})
 * @param boundaries stage boundaries: stage s holds layers [boundaries[s], boundaries[s + 1]);
 *     length {@code devices * stagesPerDevice + 1}
 * @param schedule schedule kind
 * @param devices pipeline ranks P
 * @param stagesPerDevice virtual stages per rank v (1 unless interleaved); stage s runs on rank s % P
 * @param microBatches micro-batches per mini-batch M
 * @param batchSize nominal mini-batch size (examples per optimizer step)
 * @param seed seed of the deterministic per-layer initialisation and of the dropout masks
 * @param recompute per (virtual) stage, whether it recomputes forwards (true) or keeps its layers' inputs of
 *     each micro-batch in flight (the activation stash); null means every stage recomputes
 * @param replicas data-parallel replicas R of the whole pipeline ({@link Topology}): each trains
 *     {@code batchSize / R} examples of every mini-batch, cut into {@code microBatches} micro-batches, and every
 *     stage's gradients are summed over the replicas before its step; 1: a pure pipeline
 * @param deferWeightGradients whether steps of several micro-batches form each plain dense layer's weight gradient
 *     once per step instead of once per micro-batch ({@code spark.mp.deferWeightGradients}; see
 *     {@code StageSlice#deferWeightGradients}); the same training either way
 */
@io.sparkmp.Internal
public record PipelineSpec(String modelJson, int[] boundaries, ScheduleKind schedule, int devices, int stagesPerDevice,
                           int microBatches, int batchSize, long seed, boolean[] recompute, int replicas,
                           boolean deferWeightGradients)
        implements Serializable {

    private static final long serialVersionUID = 1L;

    /**
     * Validates every field and the model against the boundaries.
     *
     * @throws IllegalArgumentException naming the value and the limit, e.g.
     *     "microBatches (3) must divide batchSize (64)"
     */
    public PipelineSpec {
        if (modelJson == null || modelJson.isBlank()) {
            throw new IllegalArgumentException("modelJson must not be empty");
        }
        if (schedule == null) {
            throw new IllegalArgumentException("schedule must not be null");
        }
        positive("devices", devices);
        positive("stagesPerDevice", stagesPerDevice);
        positive("microBatches", microBatches);
        positive("batchSize", batchSize);
        positive("replicas", replicas);
        PipelineRules.requireReplicasDivide(replicas, microBatches, batchSize);
        PipelineRules.requireStagesPerDevice(schedule, stagesPerDevice);
        PipelineRules.requireInterleavedRounds(schedule, microBatches, devices);
        if (boundaries == null) {
            throw new IllegalArgumentException("boundaries must not be null");
        }
        boundaries = boundaries.clone();
        int stages = devices * stagesPerDevice;
        if (recompute != null && recompute.length != stages) {
            throw new IllegalArgumentException("recompute must have one entry per stage (" + stages + "), found "
                    + recompute.length);
        }
        recompute = recompute == null ? null : recompute.clone();
        if (boundaries.length != stages + 1) {
            throw new IllegalArgumentException("boundaries must have devices * stagesPerDevice + 1 = " + (stages + 1)
                    + " entries (" + devices + " devices x " + stagesPerDevice + " stages), found " + boundaries.length);
        }
        MultiLayerConfiguration conf = parse(modelJson);
        ModelSlicer.validate(conf, boundaries);
        if (replicas > 1) {
            requireNoBatchStatistics(conf, replicas);
        }
    }

    /**
     * BatchNormalization normalises by the statistics of the examples it sees; each replica sees only its share of
     * the mini-batch, so the replicas' gradients would not sum to {@code fit}'s. Rejected rather than trained
     * differently.
     *
     * @throws IllegalArgumentException naming the replicas and the layer, when R &gt; 1 and the model has one
     */
    public static void requireNoBatchStatistics(MultiLayerConfiguration conf, int replicas) {
        int i = batchStatisticsLayer(conf);
        if (replicas > 1 && i >= 0) {
            throw new IllegalArgumentException("replicas (" + replicas + ") > 1 cannot train layer " + i
                    + " (BatchNormalization): each replica would normalise by the statistics of its own "
                    + "examples, not the mini-batch's as DL4J's fit does; use replicas 1 for this model");
        }
    }

    /** The first layer that normalises by its mini-batch's statistics (BatchNormalization), or -1: replicas &gt; 1 need none. */
    public static int batchStatisticsLayer(MultiLayerConfiguration conf) {
        for (int i = 0; i < conf.getConfs().size(); i++) {
            if (conf.getConf(i).getLayer() instanceof org.deeplearning4j.nn.conf.layers.BatchNormalization) {
                return i;
            }
        }
        return -1;
    }

    /** A spec of one replica in which every stage recomputes its forwards. */
    public PipelineSpec(String modelJson, int[] boundaries, ScheduleKind schedule, int devices, int stagesPerDevice,
                        int microBatches, int batchSize, long seed) {
        this(modelJson, boundaries, schedule, devices, stagesPerDevice, microBatches, batchSize, seed, null, 1);
    }

    /** A spec of one replica (a pure pipeline). */
    public PipelineSpec(String modelJson, int[] boundaries, ScheduleKind schedule, int devices, int stagesPerDevice,
                        int microBatches, int batchSize, long seed, boolean[] recompute) {
        this(modelJson, boundaries, schedule, devices, stagesPerDevice, microBatches, batchSize, seed, recompute, 1);
    }

    /** A spec that defers the dense layers' weight gradients (the default). */
    public PipelineSpec(String modelJson, int[] boundaries, ScheduleKind schedule, int devices, int stagesPerDevice,
                        int microBatches, int batchSize, long seed, boolean[] recompute, int replicas) {
        this(modelJson, boundaries, schedule, devices, stagesPerDevice, microBatches, batchSize, seed, recompute, replicas,
                true);
    }

    /** This spec with per-stage recomputation choices (see the record's {@code recompute}). */
    public PipelineSpec withRecompute(boolean[] perStage) {
        return new PipelineSpec(modelJson, boundaries, schedule, devices, stagesPerDevice, microBatches, batchSize, seed,
                perStage, replicas, deferWeightGradients);
    }

    /** This spec with the dense layers' weight gradients deferred to the step's end, or not (record's field). */
    public PipelineSpec withDeferredWeightGradients(boolean defer) {
        return new PipelineSpec(modelJson, boundaries, schedule, devices, stagesPerDevice, microBatches, batchSize, seed,
                recompute, replicas, defer);
    }

    /**
     * This spec with {@code r} data-parallel replicas (see the record's {@code replicas}).
     *
     * @throws IllegalArgumentException if {@code r < 1} or {@code r * microBatches} does not divide the batch size
     */
    public PipelineSpec withReplicas(int r) {
        return new PipelineSpec(modelJson, boundaries, schedule, devices, stagesPerDevice, microBatches, batchSize, seed,
                recompute, r, deferWeightGradients);
    }

    /** Ranks as (device, replica): P devices of each of R replicas. */
    public Topology topology() {
        return new Topology(devices, replicas);
    }

    /** Examples of each mini-batch one replica trains: {@code batchSize / replicas}. */
    public int replicaBatchSize() {
        return batchSize / replicas;
    }

    /**
     * Whether the stages apply the optimizer to each layer right after its backward: with one micro-batch per
     * step and one replica, where it is exact and a stage never holds a gradient larger than one layer's. With
     * replicas the step's gradient must be whole before it is summed across them.
     */
    public boolean fusesUpdate() {
        return microBatches == 1 && replicas == 1;
    }

    /** Whether stage {@code stage} recomputes its forwards (true unless the spec says otherwise). */
    public boolean recomputes(int stage) {
        return recompute == null || recompute[stage];
    }

    @Override
    public boolean[] recompute() {
        return recompute == null ? null : recompute.clone();
    }

    /** Convenience: a spec for {@code conf} (its JSON form is stored). */
    public static PipelineSpec of(MultiLayerConfiguration conf, int[] boundaries, ScheduleKind schedule, int devices,
                                  int stagesPerDevice, int microBatches, int batchSize, long seed) {
        if (conf == null) {
            throw new IllegalArgumentException("configuration must not be null");
        }
        return new PipelineSpec(conf.toJson(), boundaries, schedule, devices, stagesPerDevice, microBatches, batchSize, seed);
    }

    /** A copy of the boundaries. */
    @Override
    public int[] boundaries() {
        return boundaries.clone();
    }

    /** A fresh copy of the model configuration. */
    public MultiLayerConfiguration configuration() {
        return parse(modelJson);
    }

    /** Number of pipeline (virtual) stages, P * v. */
    public int numStages() {
        return devices * stagesPerDevice;
    }

    /** The rank that runs stage {@code stage}. */
    public int rankOf(int stage) {
        if (stage < 0 || stage >= numStages()) {
            throw new IllegalArgumentException("stage " + stage + " is out of range [0, " + numStages() + ")");
        }
        return stage % devices;
    }

    /** Stages of rank {@code rank}, ascending. */
    public List<Integer> stagesOf(int rank) {
        if (rank < 0 || rank >= devices) {
            throw new IllegalArgumentException("rank " + rank + " is out of range [0, " + devices + ")");
        }
        List<Integer> out = new ArrayList<>();
        for (int s = rank; s < numStages(); s += devices) {
            out.add(s);
        }
        return out;
    }

    /**
     * The ranks (of {@link #topology()}) that rank {@code rank} exchanges frames with: its pipeline peers
     * ({@link #pipelinePeersOf}) in its own replica and, with more than one replica, the ranks of the same device in
     * the replicas before and after it on the ring. Symmetric.
     *
     * @throws IllegalArgumentException if {@code rank} is out of range
     */
    public SortedSet<Integer> peersOf(int rank) {
        Topology t = topology();
        int device = t.device(rank);
        int replica = t.replica(rank);
        SortedSet<Integer> out = new TreeSet<>();
        for (int d : pipelinePeersOf(device)) {
            out.add(t.rank(d, replica));
        }
        if (replicas > 1) {
            out.add(t.rank(device, (replica + 1) % replicas));
            out.add(t.rank(device, (replica + replicas - 1) % replicas));
        }
        out.remove(rank);
        return Collections.unmodifiableSortedSet(out);
    }

    /**
     * The devices that device {@code rank} of one replica exchanges frames with, i.e. exactly the links a socket channel must
     * connect (symmetric: {@code q} is in {@code peersOf(r)} iff {@code r} is in {@code peersOf(q)}): the devices
     * at the other end of this rank's sends and receives in {@link #buildSchedule()} (activations, gradients and
     * the labels, which travel device to device along the pipeline, see
     * {@link io.sparkmp.schedule.ControlTraffic}). The step header, the L1/L2 terms and, with the skip policy
     * for non-finite gradients, the finiteness flags travel the same way, from rank {@code r} to rank
     * {@code r + 1} (and the answer back), over links the labels use already. So with one stage per device a
     * rank links only to its neighbours: P - 1 links, not P (P - 1) / 2.
     *
     * @throws IllegalArgumentException if {@code rank} is out of range
     */
    public SortedSet<Integer> pipelinePeersOf(int rank) {
        if (rank < 0 || rank >= devices) {
            throw new IllegalArgumentException("rank " + rank + " is out of range [0, " + devices + ")");
        }
        Schedule lowered = buildSchedule();
        SortedSet<Integer> out = new TreeSet<>();
        for (io.sparkmp.schedule.Action a : lowered.actions(rank)) {
            if (a.type().isCommunication()) {
                out.add(lowered.deviceOf(ControlTraffic.peerStage(a)));
            }
        }
        out.remove(rank);
        return Collections.unmodifiableSortedSet(out);
    }

    /**
     * The schedule every rank runs: generated compute actions, the communication pass, the control traffic
     * (LOAD, labels, LOSS; see {@link ControlTraffic#lowered}) and, with replicas, an ALLREDUCE before each STEP;
     * validated
     * ({@link io.sparkmp.schedule.ScheduleValidator}) before it is returned.
     */
    public Schedule buildSchedule() {
        Schedule lowered = ControlTraffic.lowered(schedule, devices, microBatches, stagesPerDevice, replicas);
        // The schedule the runtime executes (with its sends and receives) is checked before anything runs:
        // completeness, order, send/receive pairing, control traffic and no deadlock.
        io.sparkmp.schedule.ScheduleValidator.validate(lowered);
        return lowered;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PipelineSpec p && modelJson.equals(p.modelJson) && Arrays.equals(boundaries, p.boundaries)
                && schedule == p.schedule && devices == p.devices && stagesPerDevice == p.stagesPerDevice
                && microBatches == p.microBatches && batchSize == p.batchSize && seed == p.seed
                && Arrays.equals(recompute, p.recompute) && replicas == p.replicas;
    }

    @Override
    public int hashCode() {
        return Objects.hash(modelJson, Arrays.hashCode(boundaries), schedule, devices, stagesPerDevice, microBatches,
                batchSize, seed, replicas);
    }

    @Override
    public String toString() {
        return "PipelineSpec[boundaries=" + Arrays.toString(boundaries) + ", schedule=" + schedule.label() + ", devices="
                + devices + ", stagesPerDevice=" + stagesPerDevice + ", microBatches=" + microBatches + ", batchSize="
 + batchSize + ", seed=" + seed + (replicas == 1 ? "" : ", replicas=" + replicas)
                + (recompute == null ? "" : ", recompute=" + Arrays.toString(recompute)) + ", model=" + modelJson.length() + " chars of JSON]";
    }

    private static void positive(String name, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException(name + " must be positive, found " + value);
        }
    }

    private static MultiLayerConfiguration parse(String json) {
        try {
            return MultiLayerConfiguration.fromJson(json);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("modelJson is not a DL4J MultiLayerConfiguration: " + e.getMessage(), e);
        }
    }
}
