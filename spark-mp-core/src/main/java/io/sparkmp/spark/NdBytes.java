package io.sparkmp.spark;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Map;
import java.util.TreeMap;

/** INDArrays as bytes (ND4J's own format) so parameters cross Spark with any serializer. */
final class NdBytes {
    private NdBytes() {
    }

    static byte[] toBytes(INDArray a) {
        try {
            return Nd4j.toByteArray(a);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot serialize an array of shape " + java.util.Arrays.toString(a.shape()), e);
        }
    }

    static INDArray fromBytes(byte[] b) {
        return Nd4j.fromByteArray(b);
    }

    static Map<Integer, byte[]> toBytes(Map<Integer, INDArray> arrays) {
        Map<Integer, byte[]> out = new TreeMap<>();
        arrays.forEach((k, v) -> out.put(k, toBytes(v)));
        return out;
    }

    static Map<Integer, INDArray> fromBytes(Map<Integer, byte[]> bytes) {
        Map<Integer, INDArray> out = new TreeMap<>();
        bytes.forEach((k, v) -> out.put(k, fromBytes(v)));
        return out;
    }
}
