package io.sparkmp.transport;

import io.sparkmp.spark.SparkMpKryoRegistrator;
import org.apache.spark.SparkConf;
import org.apache.spark.serializer.KryoSerializer;
import org.apache.spark.serializer.SerializerInstance;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import scala.reflect.ClassTag$;

import java.nio.ByteBuffer;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Spark's own KryoSerializer, with registration required and our registrator (the {@code spark} package's entry
 * point over {@link KryoRegistration}), round-trips arrays and headers. */
class KryoRegistratorTest {
    private static SerializerInstance spark() {
        SparkConf conf = new SparkConf(false)
                .set("spark.kryo.registrationRequired", "true")
                .set("spark.kryo.registrator", SparkMpKryoRegistrator.class.getName());
        return new KryoSerializer(conf).newInstance();
    }

    @SuppressWarnings("unchecked")
    private static <T> T trip(SerializerInstance s, T value) {
        ByteBuffer b = s.serialize(value, ClassTag$.MODULE$.apply(Object.class));
        return (T) s.deserialize(b, ClassTag$.MODULE$.apply(Object.class));
    }

    @Test
    void arraysOfEveryKindRoundTripThroughSparkKryo() {
        SerializerInstance s = spark();
        INDArray base = Nd4j.linspace(1, 24, 24, DataType.DOUBLE).reshape(2, 3, 4);
        List<INDArray> arrays = List.of(
                Nd4j.rand(DataType.FLOAT, 3, 5),
                base.dup('f'),
                base.get(NDArrayIndex.all(), NDArrayIndex.point(1), NDArrayIndex.all()), // strided view
                Nd4j.createFromArray(1L, 2L, 3L),
                Nd4j.scalar(DataType.HALF, 1.5),
                Nd4j.createFromArray(1f, 2f).castTo(DataType.BFLOAT16),
                Nd4j.create(DataType.INT, 0, 3),
                Nd4j.empty(DataType.FLOAT));
        for (INDArray a : arrays) {
            INDArray got = trip(s, a);
            assertEquals(a.dataType(), got.dataType());
            assertArrayEquals(a.shape(), got.shape());
            assertEquals(a.isEmpty(), got.isEmpty());
            assertEquals(a, got);
        }
    }

    @Test
    void frameHeadersRoundTripThroughSparkKryo() {
        FrameHeader h = FrameHeader.tensor("job", new TensorKey(FrameType.LABELS, 12, 3, 0, 4), WireDataType.LONG,
                'f', false, new long[] {2, 5}, 80);
        FrameHeader got = trip(spark(), h);
        assertEquals(h.toString(), got.toString());
    }
}
