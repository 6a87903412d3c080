package io.sparkmp.transport;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;

/** A frame named in advance is read straight into the named array over a real link; otherwise as before. */
class ExpectIntoTest {
    private static List<SocketTensorChannel> chans;

    @BeforeAll
    static void open() throws Exception {
        chans = Loopback.mesh(2, Loopback.config("expect-into"));
    }

    @AfterAll
    static void close() {
        Loopback.closeAll(chans);
    }

    @Test
    void aNamedFrameLandsInTheNamedViewAndNowhereElse() {
        INDArray whole = Nd4j.zeros(DataType.FLOAT, 10);
        INDArray middle = whole.get(NDArrayIndex.interval(3, 7));
        TensorKey key = TensorKey.allReduce(1, 0, 3, 0);
        chans.get(1).expectInto(0, key, middle);
        chans.get(0).send(1, key, Nd4j.createFromArray(1f, 2f, 3f, 4f));
        INDArray got = chans.get(1).receive(0, key, 10_000);
        assertSame(middle, got);
        assertArrayEquals(new float[] {0, 0, 0, 1, 2, 3, 4, 0, 0, 0}, whole.toFloatVector());
    }

    @Test
    void aFrameOfAnotherShapeOrTypeGoesToAPooledArray() {
        INDArray named = Nd4j.zeros(DataType.FLOAT, 3);
        INDArray namedDouble = Nd4j.zeros(DataType.DOUBLE, 4);
        TensorKey k1 = TensorKey.allReduce(2, 0, 1, 0);
        TensorKey k2 = TensorKey.allReduce(2, 0, 1, 1);
        chans.get(1).expectInto(0, k1, named);
        chans.get(1).expectInto(0, k2, namedDouble);
        chans.get(0).send(1, k1, Nd4j.createFromArray(1f, 2f, 3f, 4f));
        chans.get(0).send(1, k2, Nd4j.createFromArray(5f, 6f, 7f, 8f));
        INDArray got1 = chans.get(1).receive(0, k1);
        INDArray got2 = chans.get(1).receive(0, k2);
        assertNotSame(named, got1);
        assertNotSame(namedDouble, got2);
        assertArrayEquals(new float[] {1, 2, 3, 4}, got1.toFloatVector());
        assertArrayEquals(new float[] {5, 6, 7, 8}, got2.toFloatVector());
        assertArrayEquals(new float[] {0, 0, 0}, named.toFloatVector());
        assertArrayEquals(new double[] {0, 0, 0, 0}, namedDouble.toDoubleVector());
    }

    @Test
    void aNameGivenAfterItsFrameCameIsDroppedWithTheReceive() throws Exception {
        TensorKey key = TensorKey.allReduce(3, 0, 1, 0);
        chans.get(0).send(1, key, Nd4j.createFromArray(1.0, 2.0));
        Thread.sleep(200); // let the link's reader file it first
        INDArray late = Nd4j.zeros(DataType.DOUBLE, 2);
        chans.get(1).expectInto(0, key, late);
        INDArray first = chans.get(1).receive(0, key);
        assertArrayEquals(new double[] {1, 2}, first.toDoubleVector());
        // The same key again (allowed on a socket link): the late name must not catch it.
        chans.get(0).send(1, key, Nd4j.createFromArray(3.0, 4.0));
        INDArray second = chans.get(1).receive(0, key);
        assertNotSame(late, second);
        assertArrayEquals(new double[] {3, 4}, second.toDoubleVector());
        assertArrayEquals(new double[] {0, 0}, late.toDoubleVector());
    }
}
