package io.sparkmp.spark;

import org.apache.hadoop.conf.Configuration;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.net.URI;

/**
 * Where a job's tasks read and write their layers, fixed on the driver: the output store, the store to
 * start from (if any) and where training stands in it, and the driver's Hadoop configuration (credentials
 * and file system settings set in a notebook reach the executors this way, as for Spark's own file reads).
 *
 * @param output the store the tasks write their layers to (committed by the driver)
 * @param initFromOrEmpty the complete store each task reads its own layers from, or "" for seeded init
 * @param startIteration optimizer steps already taken (the first step's number)
 * @param startEpoch epochs already completed (the first epoch's number)
 * @param fileTag distinguishes this job's layer files from an older store's in the same directory
 * @param hadoopConf the driver's Hadoop configuration, {@link Configuration#write} form
 */
record JobStore(String output, String initFromOrEmpty, long startIteration, int startEpoch, String fileTag,
                byte[] hadoopConf) implements Serializable {

    JobStore {
        hadoopConf = hadoopConf.clone();
    }

    static JobStore of(URI output, URI initFromOrNull, long startIteration, int startEpoch, String fileTag,
                       Configuration hadoop) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            hadoop.write(out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return new JobStore(output.toString(), initFromOrNull == null ? "" : initFromOrNull.toString(), startIteration,
                startEpoch, fileTag, bytes.toByteArray());
    }

    URI outputUri() {
        return URI.create(output);
    }

    /** The store to start from, or null. */
    URI initFromUri() {
        return initFromOrEmpty.isEmpty() ? null : URI.create(initFromOrEmpty);
    }

    /** A fresh copy of the driver's Hadoop configuration (executor side). */
    Configuration hadoop() {
        Configuration c = new Configuration(false);
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(hadoopConf))) {
            c.readFields(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return c;
    }

    @Override
    public byte[] hadoopConf() {
        return hadoopConf.clone();
    }
}
