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
 */
@io.sparkmp.Internal
public record PipelineSpec(String modelJson, int[] boundaries, ScheduleKind schedule, int devices, int stagesPerDevice,
                           int microBatches, int batchSize, long seed, boolean[] recompute) implements Serializable {

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
        PipelineRules.requireMicroBatchesDivide(microBatches, batchSize);
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
        ModelSlicer.validate(parse(modelJson), boundaries);
    }

    /** A spec in which every stage recomputes its forwards. */
    public PipelineSpec(String modelJson, int[] boundaries, ScheduleKind schedule, int devices, int stagesPerDevice,
                        int microBatches, int batchSize, long seed) {
        this(modelJson, boundaries, schedule, devices, stagesPerDevice, microBatches, batchSize, seed, null);
    }

    /** This spec with per-stage recomputation choices (see the record's {@code recompute}). */
    public PipelineSpec withRecompute(boolean[] perStage) {
        return new PipelineSpec(modelJson, boundaries, schedule, devices, stagesPerDevice, microBatches, batchSize, seed,
                perStage);
    }

    /**
     * Whether the stages apply the optimizer to each layer right after its backward: with one micro-batch per
     * step, where it is exact and a stage never holds a gradient larger than one layer's.
     */
    public boolean fusesUpdate() {
        return microBatches == 1;
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
     * The ranks that rank {@code rank} exchanges frames with, i.e. exactly the links a socket channel must
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
    public SortedSet<Integer> peersOf(int rank) {
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
     * The schedule every rank runs: generated compute actions, the communication pass and the control traffic
     * (LOAD, labels, LOSS; see {@link ControlTraffic#lowered}), validated
     * ({@link io.sparkmp.schedule.ScheduleValidator}) before it is returned.
     */
    public Schedule buildSchedule() {
        Schedule lowered = ControlTraffic.lowered(schedule, devices, microBatches, stagesPerDevice);
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
                && Arrays.equals(recompute, p.recompute);
    }

    @Override
    public int hashCode() {
        return Objects.hash(modelJson, Arrays.hashCode(boundaries), schedule, devices, stagesPerDevice, microBatches,
                batchSize, seed);
    }

    @Override
    public String toString() {
        return "PipelineSpec[boundaries=" + Arrays.toString(boundaries) + ", schedule=" + schedule.label() + ", devices="
                + devices + ", stagesPerDevice=" + stagesPerDevice + ", microBatches=" + microBatches + ", batchSize="
 + batchSize + ", seed=" + seed
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
