package io.sparkmp.bench;

import io.sparkmp.store.ModelStore;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.io.OutputStream;
import java.net.URI;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.Locale;

/**
 * Checkpoint cost: writing a trained model (parameters and Adam state) as a per-layer store, the way every
 * stage writes a checkpoint, against a plain write of the same number of bytes to the same file system from
 * a 1 MiB buffer; reading it back; and one checkpoint as a share of the model's DL4J {@code fit} step time.
 *
 * <p>Arguments: {@code [width] [hidden layers] [repeats] [dir]} (default 2048 8 3 and a folder under
 * java.io.tmpdir; the Maven profile runs 4096 12 2: 188 M parameters, 2.3 GB per checkpoint). Run: {@code mvn -B -q -pl spark-mp-examples -am -DskipTests -Pcheckpoint-bench package}.
 */
public final class CheckpointBenchmark {

    private CheckpointBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        int width = args.length > 0 ? Integer.parseInt(args[0]) : 2048;
        int hidden = args.length > 1 ? Integer.parseInt(args[1]) : 8;
        int repeats = args.length > 2 ? Integer.parseInt(args[2]) : 3;
        java.nio.file.Path root = args.length > 3 ? java.nio.file.Paths.get(args[3])
                : Files.createTempDirectory("spark-mp-checkpoint-bench");
        Configuration hadoop = new Configuration();
        String loadBefore = load();

        NeuralNetConfiguration.ListBuilder b = new NeuralNetConfiguration.Builder().seed(1).dataType(DataType.FLOAT)
                .updater(new Adam(1e-3)).list();
        int nIn = 784;
        for (int i = 0; i < hidden; i++) {
            b.layer(new DenseLayer.Builder().nIn(nIn).nOut(width).activation(Activation.RELU).build());
            nIn = width;
        }
        MultiLayerConfiguration conf = b.layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(nIn)
                .nOut(10).activation(Activation.SOFTMAX).build()).build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        DataSet batch = new DataSet(Nd4j.rand(DataType.FLOAT, 64, 784), Nd4j.eye(10).castTo(DataType.FLOAT)
                .repeat(0, 7).get(org.nd4j.linalg.indexing.NDArrayIndex.interval(0, 64)));
        double[] steps = new double[5];
        for (int i = -2; i < steps.length; i++) {
            long t0 = System.nanoTime();
            net.fit(batch);
            if (i >= 0) {
                steps[i] = (System.nanoTime() - t0) / 1e9;
            }
        }
        double step = median(steps);

        // Uncounted warm-up of both paths (class loading, the file system's first use, JIT).
        MultiLayerNetwork small = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().updater(new Adam(1e-3)).list()
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nIn(4).nOut(2).build()).build());
        small.init();
        small.getUpdater();
        ModelStore.write(root.resolve("warm-up").toUri(), hadoop, small, 1, "bench");
        try (OutputStream out = FileSystem.get(root.toUri(), hadoop).create(new Path(root.resolve("warm-up.bin").toUri()))) {
            out.write(new byte[1 << 20]);
        }

        double[] store = new double[repeats];
        double[] plain = new double[repeats];
        double[] read = new double[repeats];
        long bytes = 0;
        for (int r = 0; r < repeats; r++) {
            URI dir = root.resolve("store-" + r).toUri();
            long t0 = System.nanoTime();
            ModelStore.write(dir, hadoop, net, 1, "bench");
            store[r] = (System.nanoTime() - t0) / 1e9;
            ModelStore s = ModelStore.open(dir, hadoop);
            bytes = s.manifest().layerBytes();

            t0 = System.nanoTime();
            MultiLayerNetwork back = s.toNetwork();
            read[r] = (System.nanoTime() - t0) / 1e9;
            back.close(); // its native memory now, not at the next GC (a large model's copy would not fit twice)

            URI file = root.resolve("plain-" + r + ".bin").toUri();
            FileSystem fs = FileSystem.get(file, hadoop);
            byte[] buf = new byte[1 << 20];
            Arrays.fill(buf, (byte) 7);
            t0 = System.nanoTime();
            try (OutputStream out = fs.create(new Path(file), true)) {
                for (long left = bytes; left > 0; left -= buf.length) {
                    out.write(buf, 0, (int) Math.min(buf.length, left));
                }
            }
            plain[r] = (System.nanoTime() - t0) / 1e9;
            fs.delete(new Path(dir), true);
            fs.delete(new Path(file), false);
        }
        double mb = bytes / 1e6;
        System.out.printf(Locale.ROOT, "model MLP 784-%dx%d-10, FLOAT, Adam: %d parameters, %.1f MB per checkpoint "
                + "(parameters + Adam state), file system %s, %d repeats (median)%n", width, hidden, net.numParams(), mb,
                FileSystem.get(root.toUri(), hadoop).getUri(), repeats);
        System.out.printf(Locale.ROOT, "%-34s %10s %10s%n", "", "seconds", "MB/s");
        System.out.printf(Locale.ROOT, "%-34s %10.3f %10.1f%n", "per-layer store write (checkpoint)", median(store),
                mb / median(store));
        System.out.printf(Locale.ROOT, "%-34s %10.3f %10.1f%n", "plain write of the same bytes", median(plain),
                mb / median(plain));
        System.out.printf(Locale.ROOT, "%-34s %10.3f %10.1f%n", "store read into a network (resume)", median(read),
                mb / median(read));
        System.out.printf(Locale.ROOT, "store write / plain write: %.2fx the time%n", median(store) / median(plain));
        System.out.printf(Locale.ROOT, "DL4J fit step (batch 64, one JVM, median of 5): %.3f s; one checkpoint = %.0f%% "
                + "of a step; every 100 steps: %.2f%% of training time%n", step, 100 * median(store) / step,
                100 * median(store) / (100 * step));
        System.out.printf(Locale.ROOT, "load average (1, 5, 15 min) at start: %s, at end: %s%n", loadBefore, load());
    }

    private static String load() {
        try {
            String[] f = Files.readString(java.nio.file.Paths.get("/proc/loadavg")).trim().split("\\s+");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (java.io.IOException | RuntimeException e) {
            return "n/a";
        }
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
