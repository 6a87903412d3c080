package io.sparkmp.spark;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.io.UncheckedIOException;

/**
 * Java serialization to bytes for the values spark-mp hands to Spark's data serializer (broadcasts,
 * task results). Spark's Kryo 4 cannot serialize Java records, and users often set
 * {@code spark.serializer} to Kryo; a {@code byte[]} passes through any serializer.
 */
final class JavaBytes {
    private JavaBytes() {
    }

    static byte[] of(Serializable value) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(value);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot serialize " + value.getClass().getName(), e);
        }
        return bytes.toByteArray();
    }

    static <T> T read(byte[] bytes, Class<T> type) {
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes)) {
            @Override
            protected Class<?> resolveClass(java.io.ObjectStreamClass desc) throws IOException, ClassNotFoundException {
                // Executors load spark-mp from the task's class loader (spark.jars), not the system one.
                return Class.forName(desc.getName(), false, Thread.currentThread().getContextClassLoader());
            }
        }) {
            return type.cast(in.readObject());
        } catch (IOException | ClassNotFoundException e) {
            throw new IllegalStateException("cannot read a serialized " + type.getSimpleName() + ": " + e, e);
        }
    }
}
