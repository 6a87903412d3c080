package io.sparkmp.spark;

import io.sparkmp.model.StageSlice;
import io.sparkmp.runtime.PipelineSpec;
import io.sparkmp.transport.FrameType;
import io.sparkmp.transport.TensorChannel;
import io.sparkmp.transport.TensorKey;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.broadcast.Broadcast;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Tuple2;
import scala.collection.Iterator;
import scala.collection.JavaConverters;
import scala.runtime.AbstractFunction1;

import java.io.Serializable;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The body of one barrier task of a pipelined transform: the training task's shape (bind the device, open the
 * channel server, one {@code allGather} of endpoints within {@code spark.mp.barrier.timeout}, authenticated links to the neighbours) with a forward-only
 * loop. Rank 0 reads the rows (in index order) in batches of {@code rowsPerBatch}; each stage runs
 * {@link StageSlice#infer} and sends the activations on; before each batch's activations, a one-value control
 * frame says how many rows follow, and 0 ends the stream (so no rank needs to know the row count up front). The
 * last stage's rank returns (row index, output row) for every row; the other ranks return nothing.
 *
 * <p>With interleaved splits (v &gt; 1) a rank's later stages run earlier batches in the same round (see
 * {@link #forward}), so the ranks stay busy as with v = 1.
 */
final class InferenceTask extends AbstractFunction1<Iterator<double[]>, Iterator<Tuple2<Long, double[]>>>
        implements Serializable {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(InferenceTask.class);

    private final Broadcast<byte[]> spec;
    private final int rowsPerBatch;
    private final ChannelFactory channels;

    /** @param spec the {@link JobSpec} (its store is the model's), Java-serialized */
    InferenceTask(Broadcast<byte[]> spec, int rowsPerBatch, ChannelFactory channels) {
        this.spec = spec;
        this.rowsPerBatch = rowsPerBatch;
        this.channels = channels;
    }

    @Override
    public Iterator<Tuple2<Long, double[]>> apply(Iterator<double[]> rows) {
        BarrierTaskContext ctx = BarrierTaskContext.get();
        JobSpec s = JavaBytes.read(spec.value(), JobSpec.class);
        int rank = ctx.partitionId();
        DeviceBinding.bind(ctx);
        ChannelFactory.Endpoint endpoint = null;
        TensorChannel channel = null;
        Throwable failure = null;
        try {
            if (rank != 0 && rows.hasNext()) {
                throw new IllegalStateException("rank " + rank + " received rows; only rank 0 reads data");
            }
            endpoint = channels.open(s, rank, PipelineTask.bindHost(s));
            InetSocketAddress me = endpoint.localAddress();
            String address = me.getHostString() + "|" + me.getPort();
            String[] all = BarrierSync.timed(() -> ctx.allGather(address), 0, "transform start-up rendezvous", rank,
                    s.barrierTimeoutMs(),
                    () -> ctx.markInterrupted("spark-mp: transform start-up rendezvous timed out"));
            channel = endpoint.connect(PipelineTask.endpoints(all));
            Map<Integer, StageSlice> slices = InferenceStages.read(s.pipeline(), s.pipeline().stagesOf(rank),
                    s.store().outputUri(), s.store().hadoop());
            List<Tuple2<Long, double[]>> out = forward(s.pipeline(), slices, channel,
                    rank == 0 ? JavaConverters.asJavaIterator(rows) : null);
            return JavaConverters.asScalaIterator(out.iterator());
        } catch (RuntimeException | Error e) {
            failure = e;
            throw e;
        } finally {
            Throwable closing = PipelineTask.closeAll(failure, channel, endpoint);
            if (failure != null) {
                LOG.error("transform {} rank {} failed: {}", s.jobId(), rank, failure.toString());
            } else if (closing != null) {
                LOG.warn("transform {} rank {}: cleanup failed", s.jobId(), rank, closing);
            }
        }
    }

    /**
     * The forward-only loop of one rank; returns the last stage's outputs (empty elsewhere). In round {@code t} the
     * rank's k-th stage (stage {@code k * P + rank}) runs batch {@code t - k}: with virtual stages the batches
     * still overlap across ranks, as the interleaved schedule's forwards do, instead of one batch passing through
     * the ranks v times before the next starts. Each stage stops after its end-of-stream frame.
     */
    private List<Tuple2<Long, double[]>> forward(PipelineSpec p, Map<Integer, StageSlice> slices, TensorChannel channel,
                                                 java.util.Iterator<double[]> rowsOrNull) {
        int last = p.numStages() - 1;
        List<Tuple2<Long, double[]>> out = new ArrayList<>();
        List<Integer> stages = new ArrayList<>(slices.keySet());
        boolean[] done = new boolean[stages.size()];
        int running = stages.size();
        long index = 0;
        for (long round = 0; running > 0; round++) {
            for (int k = 0; k < stages.size(); k++) {
                long batch = round - k;
                if (batch < 0 || done[k]) {
                    continue;
                }
                int stage = stages.get(k);
                INDArray x;
                int n;
                if (stage == 0) {
                    x = nextBatch(rowsOrNull, p);
                    n = x == null ? 0 : (int) x.size(0);
                } else {
                    INDArray count = channel.receive(p.rankOf(stage - 1), key(FrameType.CONTROL, batch, stage - 1));
                    n = (int) count.getDouble(0);
                    channel.recycle(count);
                    x = n == 0 ? null : channel.receive(p.rankOf(stage - 1), key(FrameType.ACTIVATION, batch, stage - 1));
                }
                if (stage < last) {
                    channel.send(p.rankOf(stage + 1), key(FrameType.CONTROL, batch, stage),
                            Nd4j.createFromArray(new double[] {n}));
                }
                if (n == 0) {
                    done[k] = true;
                    running--;
                    continue;
                }
                INDArray y = slices.get(stage).infer(x, n);
                boolean ownsInput = stage > 0 && x.data() != y.data(); // a pass-through layer may return its input
                if (stage < last) {
                    channel.send(p.rankOf(stage + 1), key(FrameType.ACTIVATION, batch, stage), y);
                } else {
                    double[][] rows = y.castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE).toDoubleMatrix();
                    for (double[] r : rows) {
                        out.add(new Tuple2<>(index++, r));
                    }
                }
                if (ownsInput) {
                    channel.recycle(x);
                }
            }
        }
        return out;
    }

    private static TensorKey key(FrameType type, long batch, int fromStage) {
        return new TensorKey(type, batch, 0, fromStage, fromStage + 1);
    }

    /** Up to rowsPerBatch rows of rank 0's input as one matrix of the model's data type; null when none are left. */
    private INDArray nextBatch(java.util.Iterator<double[]> rows, PipelineSpec p) {
        List<double[]> xs = new ArrayList<>(rowsPerBatch);
        while (rows.hasNext() && xs.size() < rowsPerBatch) {
            xs.add(rows.next());
        }
        return xs.isEmpty() ? null
                : Nd4j.create(xs.toArray(new double[0][])).castTo(p.configuration().getDataType());
    }
}
