package io.sparkmp.spark;

import io.sparkmp.schedule.ScheduleKind;

import java.io.Serializable;
import java.util.Arrays;

/**
 * Everything a barrier task needs to train its stage, fixed on the driver and broadcast once: the model,
 * the split, the schedule and hyper-parameters, transport settings and the per-job secret. Immutable.
 *
 * <p>{@link #toString()} never prints the secret or the key store password.
 *
 * @param jobId unique id of this training run (names the channel's connections)
 * @param modelJson DL4J MultiLayerConfiguration JSON of the whole model
 * @param boundaries layer index where each (virtual) stage starts, plus the layer count at the end
 * @param schedule pipeline schedule
 * @param devices P, barrier tasks
 * @param stagesPerDevice v, virtual stages per device
 * @param microBatches M
 * @param batchSize examples per mini-batch
 * @param epochs passes over the data
 * @param seed seed of init, dropout and shuffling
 * @param shuffle whether examples and mini-batches are shuffled
 * @param connectTimeoutMs channel connect timeout
 * @param ioTimeoutMs channel receive/send timeout
 * @param bindHost channel bind host, "" for the executor's host
 * @param tls whether the channel uses TLS
 * @param keyStore TLS key store path ("" when not used)
 * @param keyStorePassword TLS key store password ("" when not used)
 * @param secret per-job shared secret for channel authentication
 */
record JobSpec(String jobId, String modelJson, int[] boundaries, ScheduleKind schedule, int devices,
               int stagesPerDevice, int microBatches, int batchSize, int epochs, long seed, boolean shuffle,
               long connectTimeoutMs, long ioTimeoutMs, String bindHost, boolean tls, String keyStore,
               String keyStorePassword, byte[] secret) implements Serializable {

    JobSpec {
        boundaries = boundaries.clone();
        secret = secret.clone();
        if (boundaries.length != devices * stagesPerDevice + 1) {
            throw new IllegalArgumentException("boundaries must have P * v + 1 = " + (devices * stagesPerDevice + 1)
                    + " entries, found " + boundaries.length);
        }
    }

    /** The defensive copy (records expose arrays otherwise). */
    @Override
    public int[] boundaries() {
        return boundaries.clone();
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
        return "JobSpec[job " + jobId + ", " + schedule.label() + ", P=" + devices + ", v=" + stagesPerDevice
                + ", M=" + microBatches + ", batch " + batchSize + ", epochs " + epochs + ", seed " + seed
                + ", shuffle " + shuffle + ", boundaries " + Arrays.toString(boundaries) + ", tls " + tls + "]";
    }
}
