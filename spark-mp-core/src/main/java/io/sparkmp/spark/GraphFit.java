package io.sparkmp.spark;

import io.sparkmp.model.GraphProfiler;
import io.sparkmp.model.GraphSupport;
import io.sparkmp.plan.PipelinePlan;
import io.sparkmp.plan.PipelinePlanner;
import io.sparkmp.plan.RecomputeMode;
import io.sparkmp.runtime.NonFinitePolicy;
import io.sparkmp.schedule.ScheduleKind;
import org.apache.spark.Partitioner;
import org.apache.spark.SparkContext;
import org.apache.spark.api.java.JavaRDD;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import scala.Tuple2;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;

/**
 * The driver's side of a ComputationGraph fit, before launch: the settings graphs support (others refused,
 * naming them), the first mini-batch checked against the graph's inputs and outputs, the plan from
 * {@link GraphProfiler}'s analytic profile over the topological order, and the rows routed to every rank that
 * reads them. The launch itself is the MultiLayerNetwork path's ({@link PipelineTask} over {@link GraphRunner}).
 */
final class GraphFit {

    private GraphFit() {
    }

    /**
     * Refuses settings a graph job does not run, before anything else (a builder value or {@code spark.mp.*}).
     *
     * @throws IllegalArgumentException naming the setting
     */
    static void refuseUnsupported(TrainingSettings s) {
        Integer replicas = s.get(SparkMpConf.REPLICAS); // null: auto, which a graph resolves to one replica
        if (replicas != null && replicas != 1) {
            throw new IllegalArgumentException("replicas (" + replicas + ") > 1: ComputationGraph "
                    + "pipelines run one replica");
        }
        for (ConfEntry<String> e : List.of(SparkMpConf.INIT_FROM, SparkMpConf.RESUME_FROM, SparkMpConf.CHECKPOINT_DIR,
                SparkMpConf.TIMELINE_PATH)) {
            if (!s.get(e).isEmpty()) {
                throw new IllegalArgumentException(e.key() + " (" + s.get(e) + ") is not supported for ComputationGraph "
                        + "pipelines yet");
            }
        }
        if (s.get(SparkMpConf.NON_FINITE) != NonFinitePolicy.FAIL) {
            throw new IllegalArgumentException(SparkMpConf.NON_FINITE.key() + " (" + s.get(SparkMpConf.NON_FINITE).label()
                    + ") is not supported for ComputationGraph pipelines: a non-finite gradient stops training");
        }
    }

    /**
     * Checks a mini-batch against the graph ({@link GraphSupport#validateData}): a features array per input, a labels
     * array per output, no masks; the message names the inputs or outputs.
     */
    static void checkData(ComputationGraphConfiguration conf, MultiDataSet first) {
        if (first == null) {
            throw new IllegalArgumentException("the training data is empty");
        }
        GraphSupport.validateData(conf, first, "the first training MultiDataSet");
    }

    /** The given input types, or each input's from the shape of its features in {@code first}. */
    static InputType[] inputTypes(ComputationGraphConfiguration conf, InputType[] given, MultiDataSet first) {
        if (given != null) {
            if (given.length != conf.getNetworkInputs().size()) {
                throw new IllegalArgumentException("inputTypes gives " + given.length + " types, the graph has "
                        + conf.getNetworkInputs().size() + " inputs " + conf.getNetworkInputs());
            }
            return given.clone();
        }
        InputType[] out = new InputType[conf.getNetworkInputs().size()];
        for (int i = 0; i < out.length; i++) {
            long[] s = first.getFeatures(i).shape();
            out[i] = switch (s.length) {
                case 2 -> InputType.feedForward(s[1]);
                case 3 -> InputType.recurrent(s[1], s[2]);
                case 4 -> InputType.convolutional(s[2], s[3], s[1]);
                default -> throw new IllegalArgumentException("cannot plan for features of input '"
                        + conf.getNetworkInputs().get(i) + "' of shape " + Arrays.toString(s)
                        + ": give the graph's input types with PipelineTrainer.Builder.inputTypes(...)");
            };
        }
        return out;
    }

    /**
     * The plan: the analytic graph profile (vertex times from FLOPs, every tensor crossing each cut), the free
     * slots, the memory budget per device; stages, micro-batches, schedule, virtual stages and a manual split
     * given are fixed. Graph stages keep each micro-batch's received tensors and recompute forwards, and never
     * fuse the update into the backward: the planner counts them so. A host slowdown is charged only when
     * {@code spark.mp.plan.hostSlowdown} gives one (no probe: the profile is analytic).
     */
    static PipelinePlan plan(SparkContext sc, ComputationGraphConfiguration conf, InputType[] types, TrainingSettings s,
                             PlanChoices choices) {
        SparkMpConf mp = s.conf();
        Integer stages = s.given(SparkMpConf.STAGES);
        ClusterCheck.requireSlots(sc, stages != null ? stages : 1, 1, mp.get(SparkMpConf.SLOT_WAIT));
        int executors = Math.max(1, ClusterCheck.slots(sc));
        if (choices.profileMode() == ProfileMode.MEASURED) {
            throw new IllegalArgumentException("profile " + ProfileMode.MEASURED.label() + " is not supported for "
                    + "ComputationGraph pipelines yet: their profile is analytic");
        }
        PipelinePlanner.Builder b = PipelinePlanner.builder()
                .profile(GraphProfiler.analytic(conf, mp.get(SparkMpConf.PLAN_ANALYTIC_FLOPS), types))
                .executors(executors).deviceMemoryBytes(PlanResolver.deviceBudget(sc, mp, executors))
                .bandwidthBytesPerSecond(s.get(SparkMpConf.PLAN_BANDWIDTH)).batchSize(s.get(SparkMpConf.BATCH_SIZE))
                .replicas(1).recompute(RecomputeMode.ALWAYS).fusedUpdate(false);
        // analytic profile: charged only when given (auto measures nothing here)
        HostSharingProbe sharing = HostSharingProbe.given(sc, s.get(SparkMpConf.PLAN_HOST_SLOWDOWN));
        b.hostSharing(sharing.tasksPerHost(), sharing.slowdown());
        if (stages != null) {
            b.stages(stages);
        }
        Integer v = s.given(SparkMpConf.STAGES_PER_DEVICE);
        if (v != null) {
            b.stagesPerDevice(v);
        }
        Integer m = s.given(SparkMpConf.MICRO_BATCHES);
        if (m != null) {
            b.microBatches(m);
        }
        ScheduleKind kind = s.given(SparkMpConf.SCHEDULE);
        if (kind != null) {
            b.schedule(kind);
        }
        choices.apply(b);
        return b.build().plan();
    }

    /** The job every rank runs: the planned split over the topological order. */
    static GraphJob job(ComputationGraphConfiguration conf, PipelinePlan plan, TrainingSettings s) {
        return new GraphJob(conf.toJson(), plan.boundaries(), plan.schedule(), plan.devices(), plan.stagesPerDevice(),
                plan.microBatches(), s.get(SparkMpConf.BATCH_SIZE), s.get(SparkMpConf.SEED));
    }

    /**
     * The barrier stage's input: P partitions; each rank that reads data ({@link GraphJob#readsData}) holds every
     * MultiDataSet serialized, in input order (or a seeded random order when {@code shuffle}, the same on every
     * reader); the others are empty.
     */
    static JavaRDD<byte[]> route(JavaRDD<MultiDataSet> data, GraphJob job, boolean shuffle, long seed) {
        List<Integer> readers = new ArrayList<>();
        for (int r = 0; r < job.devices(); r++) {
            if (job.readsData(r)) {
                readers.add(r);
            }
        }
        return data.mapPartitionsWithIndex((part, it) -> new Iterator<Tuple2<Tuple2<Integer, Long>, byte[]>>() {
            private long pos;
            private byte[] bytes;
            private long key;
            private int reader = readers.size();

            @Override
            public boolean hasNext() {
                return reader < readers.size() || it.hasNext();
            }

            @Override
            public Tuple2<Tuple2<Integer, Long>, byte[]> next() {
                if (reader == readers.size()) {
                    MultiDataSet ds = it.next();
                    if (ds == null || ds.getFeatures() == null) {
                        throw new IllegalArgumentException("training MultiDataSet without features at input partition "
                                + part + ", position " + pos);
                    }
                    bytes = GraphBatchSpill.toBytes(ds);
                    key = shuffle ? TrainingInput.mix(seed, part, pos) : ((long) part << 40) | pos;
                    pos++;
                    reader = 0;
                }
                return new Tuple2<>(new Tuple2<>(readers.get(reader++), key), bytes);
            }
        }, true).mapToPair(t -> t).repartitionAndSortWithinPartitions(new ReaderPartitioner(job.devices()),
                new KeyOrder()).values();
    }

    /** Keys (rank, position) go to partition rank. */
    static final class ReaderPartitioner extends Partitioner {
        private static final long serialVersionUID = 1L;
        private final int partitions;

        ReaderPartitioner(int partitions) {
            this.partitions = partitions;
        }

        @Override
        public int numPartitions() {
            return partitions;
        }

        @Override
        @SuppressWarnings("unchecked")
        public int getPartition(Object key) {
            return ((Tuple2<Integer, Long>) key)._1();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof ReaderPartitioner p && p.partitions == partitions;
        }

        @Override
        public int hashCode() {
            return partitions;
        }
    }

    /** Orders (rank, position) keys by position within a rank's partition. */
    static final class KeyOrder implements Comparator<Tuple2<Integer, Long>>, Serializable {
        private static final long serialVersionUID = 1L;

        @Override
        public int compare(Tuple2<Integer, Long> a, Tuple2<Integer, Long> b) {
            int c = Integer.compare(a._1(), b._1());
            return c != 0 ? c : Long.compare(a._2(), b._2());
        }
    }
}
