package io.sparkmp.spark;

import io.sparkmp.model.StageSlice;
import io.sparkmp.runtime.PipelineSpec;
import org.apache.spark.SparkContext;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.rdd.RDD;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Tuple2;
import scala.reflect.ClassTag$;

import java.io.Serializable;
import java.net.URI;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * Forward-only use of a trained split (internal: the ML model's transform calls it). Two ways over the same
 * stages ({@link StageSlice#infer}):
 * <ul>
 *   <li>{@link #pipelined}: one barrier job of P tasks over the training task's shape and socket channel, each
 *       task holding only its own stages' layers; rank 0 reads the rows, batches flow through the ranks.</li>
 *   <li>{@link #scorer}: every stage in one task, per partition, no barrier; for models that fit one executor.</li>
 * </ul>
 * A ComputationGraph scores per partition only: {@link #graphScorer} assembles the whole graph in each task.
 */
@io.sparkmp.Internal
public final class PipelineInference {
    private static final Logger LOG = LoggerFactory.getLogger(PipelineInference.class);

    private PipelineInference() {
    }

    /**
     * The model's output row for every input row, pipelined across {@code split.devices()} executor slots.
     *
     * @param split the trained split (model, boundaries, P, v)
     * @param store the per-layer store holding the trained layers
     * @param rows (row index, features) with indices 0..n-1, each once
     * @param rowsPerBatch rows per forward micro-batch
     * @return (row index, output row); lazily computed, one barrier job when evaluated
     * @throws IllegalStateException when the cluster lacks the slots (checked now, on the driver)
     */
    public static JavaPairRDD<Long, double[]> pipelined(SparkContext sc, PipelineSpec split, URI store,
                                                        JavaPairRDD<Long, double[]> rows, int rowsPerBatch) {
        if (rowsPerBatch < 1) {
            throw new IllegalArgumentException("rowsPerBatch must be >= 1, found " + rowsPerBatch);
        }
        SparkMpConf mp = SparkMpConf.from(sc.getConf());
        ClusterCheck.requireSlots(sc, split.devices(), mp.get(SparkMpConf.SLOT_WAIT));
        String jobId = "transform-" + UUID.randomUUID();
        JobStore js = readOnly(sc, store);
        JobSpec spec = new JobSpec(jobId, split, 0, false, mp.get(SparkMpConf.CONNECT_TIMEOUT),
                mp.get(SparkMpConf.IO_TIMEOUT), mp.get(SparkMpConf.BIND_HOST), mp.get(SparkMpConf.TLS_ENABLED),
                mp.get(SparkMpConf.TLS_KEY_STORE), EngineBridge.DEFAULT.newSecret(), js, null,
                io.sparkmp.runtime.NonFinitePolicy.FAIL, mp.get(SparkMpConf.BARRIER_TIMEOUT));
        Broadcast<byte[]> specB = JavaSparkContext.fromSparkContext(sc).broadcast(JavaBytes.of(spec));
        LOG.info("spark-mp: pipelined transform {} over {} ranks, {} rows per batch", jobId, split.devices(),
                rowsPerBatch);
        JavaRDD<double[]> routed = rows.repartitionAndSortWithinPartitions(new StagePartitioner(split.devices()))
                .values();
        InferenceTask task = new InferenceTask(specB, rowsPerBatch, EngineBridge.DEFAULT.channels());
        @SuppressWarnings({"unchecked", "rawtypes"})
        RDD<Tuple2<Long, double[]>> out = routed.rdd().barrier().mapPartitions(task, false,
                (scala.reflect.ClassTag) ClassTag$.MODULE$.apply(Tuple2.class));
        return JavaRDD.fromRDD(out, ClassTag$.MODULE$.<Tuple2<Long, double[]>>apply(Tuple2.class))
                .mapToPair(t -> t);
    }

    /** The trained model's store, read only: no initial model, no checkpoints, no faults. */
    private static JobStore readOnly(SparkContext sc, URI store) {
        return JobStore.of(store, null, JobStore.Position.ZERO, 0, JobStore.Checkpointing.OFF, JobStore.Fault.NONE, "",
                sc.hadoopConfiguration());
    }

    /** Scores rows with every stage of {@code split} in the calling task (see {@link Scorer}). */
    public static Scorer scorer(SparkContext sc, PipelineSpec split, URI store) {
        return new Scorer(split, readOnly(sc, store));
    }

    /** Scores rows with a whole trained ComputationGraph (one input, one output) in the calling task. */
    public static GraphScorer graphScorer(SparkContext sc, URI store) {
        return new GraphScorer(readOnly(sc, store));
    }

    /** Forward-only scoring of flat feature rows in one task: the model's output row for each input row, in order. */
    public interface RowScorer extends Serializable {
        double[][] score(List<double[]> rows);
    }

    /**
     * The whole model in one task: reads every stage's layers from the store on first use (once per
     * deserialized instance, i.e. once per task) and runs the stages one after the other. Not thread-safe.
     */
    public static final class Scorer implements RowScorer {
        private static final long serialVersionUID = 1L;
        private final PipelineSpec split;
        private final JobStore store;
        private transient Map<Integer, StageSlice> stages;

        private Scorer(PipelineSpec split, JobStore store) {
            this.split = split;
            this.store = store;
        }

        /** The model's output for each row, in order. */
        @Override
        public double[][] score(List<double[]> rows) {
            if (rows.isEmpty()) {
                return new double[0][];
            }
            if (stages == null) {
                List<Integer> all = java.util.stream.IntStream.range(0, split.numStages()).boxed().toList();
                stages = InferenceStages.read(split, all, store.outputUri(), store.hadoop());
            }
            INDArray x = Nd4j.create(rows.toArray(new double[0][])).castTo(split.configuration().getDataType());
            for (StageSlice s : stages.values()) {
                x = s.infer(x, rows.size());
            }
            return x.castTo(DataType.DOUBLE).toDoubleMatrix();
        }
    }

    /**
     * A trained ComputationGraph of one input and one output in one task: assembled from the store (every vertex's
     * parameters) on first use, once per deserialized instance, i.e. once per task; each batch of rows goes through
     * {@code ComputationGraph.output} as one flat {@code [rows, width]} array. Not thread-safe.
     */
    public static final class GraphScorer implements RowScorer {
        private static final long serialVersionUID = 1L;
        private final JobStore store;
        private transient org.deeplearning4j.nn.graph.ComputationGraph graph;

        private GraphScorer(JobStore store) {
            this.store = store;
        }

        @Override
        public double[][] score(List<double[]> rows) {
            if (rows.isEmpty()) {
                return new double[0][];
            }
            if (graph == null) {
                try {
                    graph = io.sparkmp.store.ModelStore.open(store.outputUri(), store.hadoop()).toGraph();
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException("cannot read the trained graph from " + store.outputUri()
                            + ": " + e.getMessage(), e);
                }
            }
            INDArray x = Nd4j.create(rows.toArray(new double[0][])).castTo(graph.getConfiguration().getDataType());
            return graph.output(false, x)[0].castTo(DataType.DOUBLE).toDoubleMatrix();
        }
    }
}
