package io.sparkmp.spark;

import com.esotericsoftware.kryo.Kryo;
import io.sparkmp.transport.KryoRegistration;
import org.apache.spark.serializer.KryoRegistrator;

/**
 * Registers spark-mp's wire classes with Spark's Kryo: set {@code spark.kryo.registrator} to
 * {@code io.sparkmp.spark.SparkMpKryoRegistrator}. Registers the transport's frame header and its serializer for ND4J
 * arrays, so it works with {@code spark.kryo.registrationRequired=true}.
 */
public final class SparkMpKryoRegistrator implements KryoRegistrator {
    @Override
    public void registerClasses(Kryo kryo) {
        KryoRegistration.register(kryo);
    }
}
