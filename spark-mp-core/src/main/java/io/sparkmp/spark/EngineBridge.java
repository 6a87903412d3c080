package io.sparkmp.spark;

import io.sparkmp.runtime.ActionRecorder;
import io.sparkmp.runtime.MiniBatch;
import io.sparkmp.runtime.RankTimeline;
import io.sparkmp.runtime.StageStore;
import io.sparkmp.runtime.StageWorker;
import io.sparkmp.runtime.StepMetrics;
import io.sparkmp.transport.SocketTensorChannel;
import io.sparkmp.transport.TensorChannel;
import io.sparkmp.transport.TlsSettings;
import io.sparkmp.transport.TransportConfig;
import io.sparkmp.store.LayerEntry;
import io.sparkmp.store.ModelStore;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

import java.io.IOException;
import java.io.Serializable;
import java.net.InetSocketAddress;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The one place that binds the Spark layer to the engine (runtime/model) and the transport. Tests swap
 * it for fakes to check the task lifecycle alone; production uses {@link #DEFAULT}.
 */
interface EngineBridge {

    /** Builds each rank's stage. */
    StageRunnerFactory runners();

    /** Opens each rank's channel. */
    ChannelFactory channels();

    /** A fresh per-job secret for channel authentication. */
    byte[] newSecret();

    /** {@link StageWorker} over {@link SocketTensorChannel}. */
    EngineBridge DEFAULT = new Production();

    /** The engine and transport of this build. */
    final class Production implements EngineBridge, Serializable {
        private static final long serialVersionUID = 1L;

        @Override
        public StageRunnerFactory runners() {
            return (spec, rank, channel) -> {
                if (spec.graphOrNull() != null) {
                    return new GraphRunner(spec, rank, channel);
                }
                ActionRecorder recorder = spec.timelineOrNull() == null ? null : spec.timelineOrNull().recorder(rank);
                return new WorkerRunner(new StageWorker(spec.pipeline(), rank, channel, null, recorder, spec.nonFinite(),
                        Duration.ofMillis(spec.ioTimeoutMs())),
                        recorder);
            };
        }

        @Override
        public ChannelFactory channels() {
            return (spec, rank, bindHost) -> new SocketEndpoint(SocketTensorChannel.open(transport(spec, bindHost), rank),
                    spec.peersOf(rank));
        }

        @Override
        public byte[] newSecret() {
            return TransportConfig.newSecret();
        }

        /** The TLS key store password from this executor's own Spark configuration (never from the spec). */
        static String keyStorePassword() {
            org.apache.spark.SparkEnv env = org.apache.spark.SparkEnv.get();
            return env == null ? "" : env.conf().get(SparkMpConf.TLS_KEY_STORE_PASSWORD.key(), "");
        }

        static TransportConfig transport(JobSpec spec, String bindHost) {
            TransportConfig.Builder b = TransportConfig.builder(spec.jobId(), spec.secret()).bindHost(bindHost)
                    .connectTimeout(Duration.ofMillis(spec.connectTimeoutMs()))
                    .receiveTimeout(Duration.ofMillis(spec.ioTimeoutMs()))
                    .sendTimeout(Duration.ofMillis(spec.ioTimeoutMs()));
            if (spec.tls()) {
                b.tls(TlsSettings.sharedPkcs12(Paths.get(spec.keyStore()), keyStorePassword().toCharArray()));
            }
            return b.build();
        }
    }

    /** A listening {@link SocketTensorChannel}; connecting links it to the ranks it talks to ({@code peers}). */
    final class SocketEndpoint implements ChannelFactory.Endpoint {
        private final SocketTensorChannel channel;
        private final java.util.Set<Integer> peers;

        SocketEndpoint(SocketTensorChannel channel, java.util.Set<Integer> peers) {
            this.channel = channel;
            this.peers = peers;
        }

        @Override
        public InetSocketAddress localAddress() {
            return channel.localAddress();
        }

        @Override
        public TensorChannel connect(Map<Integer, InetSocketAddress> peers) {
            Map<Integer, InetSocketAddress> linked = new TreeMap<>(peers);
            linked.keySet().retainAll(this.peers);
            channel.connect(linked);
            return channel;
        }

        @Override
        public void close() {
            channel.close();
        }
    }

    /** {@link StageWorker} as a {@link StageRunner}: busy time = wall time minus time blocked in receives. */
    final class WorkerRunner implements StageRunner {
        private final StageWorker worker;
        private final ActionRecorder recorderOrNull;

        WorkerRunner(StageWorker worker, ActionRecorder recorderOrNull) {
            this.worker = worker;
            this.recorderOrNull = recorderOrNull;
        }

        @Override
        public RankStep runStep(int epoch, long step, MiniBatch miniBatchOrNull) {
            StepMetrics m = worker.runStep(step, epoch, miniBatchOrNull);
            return new RankStep(m.rank(), 0, epoch, m.step(), m.loss(), m.examples(), m.wallNanos(),
                    Math.max(0, m.wallNanos() - m.waitNanos()), -1, -1, m.skipped());
        }

        @Override
        public void restoreSkippedSteps(long skipped) {
            worker.restoreSkippedSteps(skipped);
        }

        @Override
        public String lastSkipReason() {
            return worker.lastSkipReason();
        }

        @Override
        public void readLayers(ModelStore store) throws IOException {
            StageStore.read(worker, store);
        }

        @Override
        public List<LayerEntry> writeLayers(FileSystem fs, Path dir, String tag) throws IOException {
            return StageStore.write(worker, fs, dir, tag);
        }

        @Override
        public RankTimeline timeline() {
            return recorderOrNull == null ? null : recorderOrNull.drainTimeline();
        }

        @Override
        public void close() {
            // the worker holds no resources of its own; the channel is closed by the task
        }
    }
}
