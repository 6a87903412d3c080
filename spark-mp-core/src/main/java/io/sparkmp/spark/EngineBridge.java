package io.sparkmp.spark;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Map;

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

    /** The whole network from per-layer parameters (driver side). */
    MultiLayerNetwork assemble(MultiLayerConfiguration conf, Map<Integer, INDArray> params);

    /** Per-layer parameters of a network (driver side, for init-from). */
    Map<Integer, INDArray> split(MultiLayerNetwork net);

    /** The engine and transport of this build. */
    EngineBridge DEFAULT = new EngineBridge() {
        @Override
        public StageRunnerFactory runners() {
            throw new UnsupportedOperationException("engine not merged yet");
        }

        @Override
        public ChannelFactory channels() {
            throw new UnsupportedOperationException("transport not merged yet");
        }

        @Override
        public byte[] newSecret() {
            byte[] b = new byte[32];
            new java.security.SecureRandom().nextBytes(b);
            return b;
        }

        @Override
        public MultiLayerNetwork assemble(MultiLayerConfiguration conf, Map<Integer, INDArray> params) {
            throw new UnsupportedOperationException("engine not merged yet");
        }

        @Override
        public Map<Integer, INDArray> split(MultiLayerNetwork net) {
            throw new UnsupportedOperationException("engine not merged yet");
        }
    };
}
