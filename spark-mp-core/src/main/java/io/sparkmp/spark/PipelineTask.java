package io.sparkmp.spark;

import io.sparkmp.runtime.MiniBatch;
import io.sparkmp.runtime.Topology;
import io.sparkmp.store.LayerEntry;
import io.sparkmp.store.ModelStore;
import io.sparkmp.transport.TensorChannel;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.SparkEnv;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.util.Utils;
import org.nd4j.linalg.dataset.DataSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.collection.Iterator;
import scala.collection.JavaConverters;
import scala.runtime.AbstractFunction1;

import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The body of one barrier task (one pipeline rank): bind the device, open the channel server, (rank 0)
 * spill the training rows into mini-batches, exchange endpoints and the step count with ONE
 * {@code allGather}, connect to the peers with the job secret, build only this rank's layers, run the
 * schedule for every mini-batch of every epoch, and return the trained layer parameters with the per-step
 * records. Everything opened is closed in {@code finally}; a cleanup error is attached to the real one,
 * never thrown over it.
 */
final class PipelineTask extends AbstractFunction1<Iterator<byte[]>, Iterator<byte[]>> implements Serializable {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(PipelineTask.class);

    private final Broadcast<byte[]> spec;
    private final ProgressAccumulator progress;
    private final ChannelFactory channels;
    private final StageRunnerFactory runners;

    /** @param spec the {@link JobSpec}, Java-serialized ({@link JavaBytes}) */
    PipelineTask(Broadcast<byte[]> spec, ProgressAccumulator progress, ChannelFactory channels,
                 StageRunnerFactory runners) {
        this.spec = spec;
        this.progress = progress;
        this.channels = channels;
        this.runners = runners;
    }

    @Override
    public Iterator<byte[]> apply(Iterator<byte[]> rows) {
        BarrierTaskContext ctx = BarrierTaskContext.get();
        JobSpec s = JavaBytes.read(spec.value(), JobSpec.class);
        int rank = ctx.partitionId();
        int attempt = ctx.stageAttemptNumber();
        DeviceBinding device = DeviceBinding.bind(ctx);
        LOG.info("job {} rank {} (stage attempt {}) on {}", s.jobId(), rank, attempt,
                device.gpu() != null ? "GPU " + device.gpu() : device.threads() + " CPU thread(s)");

        RowSpill spill = null;
        ChannelFactory.Endpoint endpoint = null;
        TensorChannel channel = null;
        PeakMemorySampler memory = PeakMemorySampler.start(); // after bind: ND4J's libraries are loaded
        StageRunner runner = null;
        Throwable failure = null;
        try {
            endpoint = channels.open(s, rank, bindHost(s));
            long examples = 0;
            long dropped = 0;
            int batches = 0;
            Topology topology = s.topology();
            if (s.readsData(rank)) { // stage 0 of its replica (its share of every mini-batch); graph ranks with data
                spill = s.graphOrNull() != null
                        ? GraphBatchSpill.write(JavaConverters.asJavaIterator(rows), spillDir(), s.replicaBatchSize(),
                                s.dataType())
                        : MiniBatchSpill.write(JavaConverters.asJavaIterator(rows), spillDir(), s.replicaBatchSize(),
                                s.dataType());
                examples = spill.examples();
                dropped = spill.droppedExamples();
                batches = spill.batches();
            } else if (rows.hasNext()) {
                throw new IllegalStateException(topology.describe(rank) + " received training rows; it reads none "
                        + "(stage 0 of each replica, and graph ranks with inputs or outputs, do)");
            }

            JobStore store = s.store();
            Configuration hadoop = store.hadoop();
            BarrierSync barrier = new BarrierSync(ctx, progress, rank, attempt, s.barrierTimeoutMs());
            Checkpointer checkpoints = new Checkpointer(s, hadoop, ctx, barrier, rank, attempt);
            InetSocketAddress me = endpoint.localAddress();
            // One gather: endpoints, rank 0's mini-batch count and, on a retried attempt, its recovery point.
            String[] all = barrier.allGather("start-up rendezvous", me.getHostString() + "|" + me.getPort() + "|" + batches + "|" + examples + "|"
                    + checkpoints.recoveryPoint());
            Map<Integer, InetSocketAddress> peers = endpoints(all);
            String[] rank0 = all[0].split("\\|", -1);
            int stepsPerEpoch = Integer.parseInt(rank0[2]);
            if (stepsPerEpoch == 0) {
                throw new IllegalArgumentException("the training data has " + rank0[3] + " examples, fewer than one "
                        + "mini-batch of batchSize " + s.batchSize());
            }
            URI recovery = rank0[4].isEmpty() ? null : URI.create(rank0[4]);
            requireEqualShares(all, topology);

            channel = endpoint.connect(peers);
            runner = runners.create(s, rank, channel);
            JobStore.Position start = store.start();
            URI from = recovery != null ? recovery : store.initFromUri();
            if (from != null) {
                ModelStore read = readInitialLayers(runner, from, hadoop);
                if (recovery != null) {
                    start = JobStore.Position.of(read.manifest());
                    LOG.info("job {} rank {} (stage attempt {}) resumes from the checkpoint {} after step {}",
                            s.jobId(), rank, attempt, recovery, start.iteration());
                }
            }
            List<RankStep> steps = new ArrayList<>();
            if (recovery != null) { // the earlier attempts' records of the steps before the checkpoint
                steps.addAll(Checkpointer.readHistory(recovery, hadoop, rank));
            }
            long skipped = start.skippedSteps();
            runner.restoreSkippedSteps(skipped);
            int ran = 0;
            long step = start.iteration();
            long endStep = step + (long) (store.endEpoch() - start.epoch()) * stepsPerEpoch - start.stepInEpoch();
            for (int epoch = start.epoch(); epoch < store.endEpoch(); epoch++) {
                java.util.Iterator<MiniBatch> data = spill != null ? spill.epoch(epoch, s.shuffle(), s.seed()) : null;
                long skip = epoch == start.epoch() ? start.stepInEpoch() : 0;
                for (int i = 0; i < stepsPerEpoch; i++) {
                    if (i < skip) { // before the position training starts at: the same batch order, not trained
                        if (data != null) {
                            data.next();
                        }
                        continue;
                    }
                    ctx.killTaskIfInterrupted();
                    RankStep rec = runner.runStep(epoch, step, data != null ? data.next() : null);
                    RankStep stamped = new RankStep(rank, attempt, epoch, step, rec.loss(), s.batchSize(),
                            rec.wallNanos(), rec.busyNanos(), memory.startBytes(), memory.endStep(), rec.skipped(), endStep);
                    steps.add(stamped);
                    if (++ran == PeakMemorySampler.SAMPLED_STEPS) { // this task's steps, whatever the start
                        memory.stop();
                    }
                    if (rec.skipped()) {
                        skipped++;
                        if (rank == 0) {
                            LOG.warn("job {}: {}", s.jobId(), runner.lastSkipReason());
                        }
                    }
                    progress.add(stamped);
                    step++;
                    store.fault().maybeThrow("fail", attempt, rank, step);
                    boolean last = epoch == store.endEpoch() - 1 && i == stepsPerEpoch - 1;
                    if (!last && store.checkpoints().after(step)) {
                        checkpoints.write(runner, i + 1 == stepsPerEpoch
                                ? new JobStore.Position(step, epoch + 1, 0, skipped)
                                : new JobStore.Position(step, epoch, i + 1, skipped), steps);
                    }
                }
            }
            if (checkpoints.on()) {
                checkpoints.write(runner, new JobStore.Position(step, store.endEpoch(), 0, skipped), steps);
            }
            // Replicas hold the same layers: replica 0 writes them.
            List<LayerEntry> written = topology.replica(rank) == 0 ? writeLayers(runner, store, hadoop, rank) : List.of();
            TaskResult result = new TaskResult(rank, written, steps, examples, dropped, step, runner.timeline(),
                    skipped);
            return JavaConverters.asScalaIterator(List.of(JavaBytes.of(result)).iterator());
        } catch (RuntimeException | Error e) {
            failure = e;
            throw e;
        } finally {
            Throwable closing = closeAll(failure, memory, runner, channel, endpoint, spill);
            if (failure != null) {
                LOG.error("job {} rank {} failed: {}", s.jobId(), rank, failure.toString());
            } else if (closing != null) {
                // Training finished and its result is complete: a cleanup error is reported, not fatal.
                LOG.warn("job {} rank {}: cleanup failed after training", s.jobId(), rank, closing);
            }
        }
    }

    private static ModelStore readInitialLayers(StageRunner runner, URI from, Configuration hadoop) {
        try {
            ModelStore store = ModelStore.open(from, hadoop);
            runner.readLayers(store);
            return store;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read this rank's layers from " + from + ": " + e.getMessage(), e);
        }
    }

    private static List<LayerEntry> writeLayers(StageRunner runner, JobStore store, Configuration hadoop, int rank) {
        URI out = store.outputUri();
        try {
            return runner.writeLayers(FileSystem.get(out, hadoop), new org.apache.hadoop.fs.Path(out), store.fileTag());
        } catch (IOException e) {
            throw new UncheckedIOException("rank " + rank + " cannot write its layers to " + out + ": " + e.getMessage(), e);
        }
    }

    /**
     * Every replica's stage 0 must have read as many mini-batches as replica 0's (the route gives each the same
     * share of every mini-batch), or the replicas would run different step counts and wait for each other.
     */
    static void requireEqualShares(String[] gathered, Topology topology) {
        String[] first = gathered[0].split("\\|", -1);
        for (int r = 1; r < topology.replicas(); r++) {
            int rank = topology.rank(0, r);
            String[] f = gathered[rank].split("\\|", -1);
            if (!f[2].equals(first[2])) {
                throw new IllegalStateException(topology.describe(rank) + " read " + f[2] + " mini-batches (" + f[3]
                        + " examples) but replica 0 read " + first[2] + " (" + first[3] + " examples): the replicas' "
                        + "shares of the training data differ");
            }
        }
    }

    /** Every rank's channel address from the gathered messages (host|port first, in rank order). */
    static Map<Integer, InetSocketAddress> endpoints(String[] gathered) {
        Map<Integer, InetSocketAddress> peers = new TreeMap<>();
        for (int r = 0; r < gathered.length; r++) {
            String[] f = gathered[r].split("\\|", -1);
            peers.put(r, new InetSocketAddress(f[0], Integer.parseInt(f[1])));
        }
        return peers;
    }

    static String bindHost(JobSpec s) {
        if (!s.bindHost().isEmpty()) {
            return s.bindHost();
        }
        SparkEnv env = SparkEnv.get();
        return env != null ? env.blockManager().blockManagerId().host() : "127.0.0.1";
    }

    private static Path spillDir() {
        SparkEnv env = SparkEnv.get();
        String dir = env != null ? Utils.getLocalDir(env.conf()) : System.getProperty("java.io.tmpdir");
        return Paths.get(dir, "spark-mp");
    }

    /** Closes in order; the first failure wins, later ones are attached to it as suppressed. */
    static Throwable closeAll(Throwable failure, AutoCloseable... resources) {
        for (AutoCloseable r : resources) {
            if (r == null) {
                continue;
            }
            try {
                r.close();
            } catch (Throwable t) {
                if (failure == null) {
                    failure = t;
                } else if (failure != t) {
                    failure.addSuppressed(t);
                }
            }
        }
        return failure;
    }
}
