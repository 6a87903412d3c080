package io.sparkmp.transport;

import com.esotericsoftware.kryo.Kryo;
import org.apache.spark.serializer.KryoRegistrator;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Registers spark-mp's wire classes with Spark's Kryo: set {@code spark.kryo.registrator} to this class's
 * name. Registers the frame header and an {@link NDArrayKryoSerializer} for ND4J arrays (the CPU backend's
 * concrete class plus a default serializer for any other {@link INDArray} implementation), so it works with
 * {@code spark.kryo.registrationRequired=true}. The only class of the transport package that imports Spark.
 */
public final class SparkMpKryoRegistrator implements KryoRegistrator {
    /** The CPU backend's array class; looked up by name so a CUDA-only classpath still loads this class. */
    static final String CPU_NDARRAY = "org.nd4j.linalg.cpu.nativecpu.NDArray";

    @Override
    public void registerClasses(Kryo kryo) {
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
