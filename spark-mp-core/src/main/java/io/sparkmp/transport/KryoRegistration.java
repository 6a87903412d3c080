package io.sparkmp.transport;

import com.esotericsoftware.kryo.Kryo;
import io.sparkmp.Internal;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Registers the transport's wire classes with a Kryo instance: the frame header and an {@link NDArrayKryoSerializer}
 * for ND4J arrays (the CPU backend's concrete class plus a default serializer for any other {@link INDArray}
 * implementation), so it works with registration required. Spark's {@code spark.kryo.registrator} entry point is
 * {@link io.sparkmp.spark.SparkMpKryoRegistrator}, which calls this: the transport itself does not import Spark.
 */
@Internal
public final class KryoRegistration {
    /** The CPU backend's array class; looked up by name so a CUDA-only classpath still loads this class. */
    static final String CPU_NDARRAY = "org.nd4j.linalg.cpu.nativecpu.NDArray";

    private KryoRegistration() {
    }

    public static void register(Kryo kryo) {
        kryo.register(FrameHeader.class, new FrameHeader.KryoSerializer());
        NDArrayKryoSerializer arrays = new NDArrayKryoSerializer();
        kryo.addDefaultSerializer(INDArray.class, arrays);
        try {
            kryo.register(Class.forName(CPU_NDARRAY), arrays);
        } catch (ClassNotFoundException e) {
            // another backend: its arrays use the default serializer; with registrationRequired they need
            // registering by the caller
        }
    }
}
