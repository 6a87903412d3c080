package io.sparkmp.spark;

import io.sparkmp.runtime.PipelineSpec;
import io.sparkmp.runtime.TimelineSampling;

import java.io.Serializable;
import java.util.Arrays;

/**
 * Everything a barrier task needs to train its stage, fixed on the driver and broadcast once: the
 * pipeline (model, split, schedule, micro-batches, batch size, seed), the data pass settings, the
 * transport settings and the per-job secret. Immutable.
 *
 * <p>{@link #toString()} never prints the secret. The TLS key store password is not part of the spec: each
 * executor reads {@code spark.mp.transport.tls.keyStorePassword} from its own Spark configuration, so it is
 * never broadcast nor logged.
 *
 * @param jobId unique id of this training run (names the channel's connections)
 * @param pipeline what every rank builds and runs
 * @param epochs passes over the data
 * @param shuffle whether examples and mini-batches are shuffled
 * @param connectTimeoutMs channel connect timeout
 * @param ioTimeoutMs channel receive/send timeout
 * @param bindHost channel bind host, "" for the executor's host
 * @param tls whether the channel uses TLS
 * @param keyStore TLS key store path ("" when not used)
 * @param secret per-job shared secret for channel authentication
 * @param store where the tasks read (init) and write (result) their layers
 * @param timelineOrNull which steps each rank records for the timeline, or null for none
 * @param nonFinite what a step with a non-finite gradient does ({@code spark.mp.nonFinite})
 * @param barrierTimeoutMs longest wait of one barrier {@code allGather} for every rank to arrive
 *     ({@code spark.mp.barrier.timeout})
 * @param graphOrNull the ComputationGraph pipeline a graph job runs instead of {@code pipeline} (then null), or
 *     null for a MultiLayerNetwork job
 */
record JobSpec(String jobId, PipelineSpec pipeline, int epochs, boolean shuffle, long connectTimeoutMs,
               long ioTimeoutMs, String bindHost, boolean tls, String keyStore, byte[] secret,
               JobStore store, TimelineSampling timelineOrNull, io.sparkmp.runtime.NonFinitePolicy nonFinite,
               long barrierTimeoutMs, GraphJob graphOrNull) implements Serializable {

    JobSpec {
        secret = secret.clone();
        if ((pipeline == null) == (graphOrNull == null)) {
            throw new IllegalArgumentException("a job runs either a MultiLayerNetwork pipeline or a graph one");
        }
    }

    /** A MultiLayerNetwork job. */
    JobSpec(String jobId, PipelineSpec pipeline, int epochs, boolean shuffle, long connectTimeoutMs,
            long ioTimeoutMs, String bindHost, boolean tls, String keyStore, byte[] secret,
            JobStore store, TimelineSampling timelineOrNull, io.sparkmp.runtime.NonFinitePolicy nonFinite,
            long barrierTimeoutMs) {
        this(jobId, pipeline, epochs, shuffle, connectTimeoutMs, ioTimeoutMs, bindHost, tls, keyStore, secret, store,
                timelineOrNull, nonFinite, barrierTimeoutMs, null);
    }

    /** Ranks as (device, replica). */
    io.sparkmp.runtime.Topology topology() {
        return graphOrNull != null ? graphOrNull.topology() : pipeline.topology();
    }

    /** Examples of each mini-batch one replica trains. */
    int replicaBatchSize() {
        return graphOrNull != null ? graphOrNull.batchSize() : pipeline.replicaBatchSize();
    }

    /** The model's data type: training rows are cast to it. */
    org.nd4j.linalg.api.buffer.DataType dataType() {
        return graphOrNull != null ? graphOrNull.dataType() : pipeline.configuration().getDataType();
    }

    /** The model's JSON (a MultiLayerConfiguration's or a ComputationGraphConfiguration's). */
    String modelJson() {
        return graphOrNull != null ? graphOrNull.graphJson() : pipeline.modelJson();
    }

    /** The ranks rank {@code rank} links to. */
    java.util.SortedSet<Integer> peersOf(int rank) {
        return graphOrNull != null ? graphOrNull.peersOf(rank) : pipeline.peersOf(rank);
    }

    /** Whether rank {@code rank} reads training rows (stage 0 of each replica; graph ranks with inputs or outputs). */
    boolean readsData(int rank) {
        return graphOrNull != null ? graphOrNull.readsData(rank) : pipeline.topology().readsData(rank);
    }

    /** P, the barrier tasks. */
    int devices() {
        return graphOrNull != null ? graphOrNull.devices() : pipeline.devices();
    }

    /** Examples per mini-batch. */
    int batchSize() {
        return graphOrNull != null ? graphOrNull.batchSize() : pipeline.batchSize();
    }

    /** Layer index where each (virtual) stage starts, then the layer count. */
    int[] boundaries() {
        return graphOrNull != null ? graphOrNull.boundaries() : pipeline.boundaries();
    }

    /** Seed of init, dropout and shuffling. */
    long seed() {
        return graphOrNull != null ? graphOrNull.seed() : pipeline.seed();
    }

    @Override
    public byte[] secret() {
        return secret.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof JobSpec s && s.jobId.equals(jobId);
    }

    @Override
    public int hashCode() {
        return jobId.hashCode();
    }

    @Override
    public String toString() {
        String what = graphOrNull != null ? graphOrNull.describe() : pipeline.schedule().label() + ", P=" + pipeline.devices()
                + (pipeline.replicas() == 1 ? "" : ", R=" + pipeline.replicas()) + ", v=" + pipeline.stagesPerDevice()
                + ", M=" + pipeline.microBatches() + ", batch " + pipeline.batchSize()
                + ", epochs " + epochs + ", seed " + pipeline.seed() + ", shuffle " + shuffle + ", boundaries "
                + Arrays.toString(pipeline.boundaries());
        return "JobSpec[job " + jobId + ", " + what + (graphOrNull != null ? ", epochs " + epochs + ", shuffle " + shuffle : "")
                + ", tls " + tls + ", output " + store.output()
                + (store.initFromOrEmpty().isEmpty() ? "" : ", from " + store.initFromOrEmpty() + " at step "
                + store.start().iteration()) + (store.checkpoints().on() ? ", checkpoints " + store.checkpoints().dir()
                + " every " + store.checkpoints().every() : "") + (timelineOrNull == null ? "" : ", timeline " + timelineOrNull)
                + ", nonFinite " + nonFinite.label() + ", barrier timeout " + barrierTimeoutMs + " ms]";
    }
}
