package io.sparkmp.transport;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.KryoException;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * Kryo serializer for ND4J arrays in Spark's own serialization (broadcasts, task results): dtype id from
 * {@link WireDataType}'s stable table, order, shape, then the raw bytes. The tensor channel does not use it
 * (it moves payloads without Kryo); it exists so Spark and the channel agree on one encoding of an array.
 * Declared rank and sizes are checked before allocation. Host buffers are kept in step with a device copy by
 * the backend's {@link HostSync}, as in the channel.
 */
final class NDArrayKryoSerializer extends Serializer<INDArray> {
    private static final int CHUNK = 64 * 1024;

    @Override
    public void write(Kryo kryo, Output out, INDArray array) {
        INDArray a = array.isAttached() ? array.detach() : array;
        WireDataType dtype = WireDataType.of(a.dataType());
        boolean empty = a.isEmpty();
        HostSync sync = HostSync.forBackend();
        if (!empty && !TensorPayload.hasDefaultStrides(a)) {
            a = a.dup(a.ordering());
        }
        if (!empty) {
            sync.beforeHostRead(a);
            if (a.data().asNio() == null) {
                a = a.dup(a.ordering());
                sync.beforeHostRead(a);
            }
        }
        out.writeByte(dtype.id);
        out.writeByte(a.ordering());
        out.writeBoolean(empty);
        long[] shape = a.shape();
        out.writeByte(shape.length);
        for (long d : shape) {
            out.writeVarLong(d, true);
        }
        if (empty) {
            return;
        }
        long bytes = a.length() * dtype.width;
        out.writeVarLong(bytes, true);
        ByteBuffer src = a.data().asNio().duplicate();
        int start = (int) (a.offset() * dtype.width);
        src.limit((int) (start + bytes)).position(start);
        byte[] chunk = new byte[(int) Math.min(CHUNK, bytes)];
        while (src.hasRemaining()) {
            int n = Math.min(chunk.length, src.remaining());
            src.get(chunk, 0, n);
            out.writeBytes(chunk, 0, n);
        }
    }

    @Override
    public INDArray read(Kryo kryo, Input in, Class<INDArray> type) {
        int dtypeId = in.readByte();
        WireDataType dtype = WireDataType.fromId(dtypeId);
        if (dtype == null) {
            throw new KryoException("unknown INDArray data type id " + dtypeId);
        }
        char order = (char) in.readByte();
        if (order != 'c' && order != 'f') {
            throw new KryoException("unknown INDArray order " + (int) order);
        }
        boolean empty = in.readBoolean();
        int rank = in.readByte();
        if (rank < 0 || rank > FrameHeader.MAX_RANK) {
            throw new KryoException("INDArray rank " + rank + " outside [0, " + FrameHeader.MAX_RANK + "]");
        }
        long[] shape = new long[rank];
        long elements = 1;
        for (int i = 0; i < rank; i++) {
            shape[i] = in.readVarLong(true);
            if (shape[i] < 0) {
                throw new KryoException("negative INDArray dimension in " + Arrays.toString(shape));
            }
            elements = elements * shape[i];
            if (elements > Integer.MAX_VALUE) {
                throw new KryoException("INDArray shape " + Arrays.toString(shape) + " is too large");
            }
        }
        if (empty) {
            return rank == 0 ? Nd4j.empty(dtype.nd4j) : Nd4j.create(dtype.nd4j, shape, order);
        }
        long bytes = in.readVarLong(true);
        if (bytes != elements * dtype.width) {
            throw new KryoException("INDArray declares " + bytes + " bytes but shape " + Arrays.toString(shape)
                    + " of " + dtype + " needs " + elements * dtype.width);
        }
        INDArray a = Nd4j.createUninitializedDetached(dtype.nd4j, order, shape);
        HostSync sync = HostSync.forBackend();
        sync.beforeHostWrite(a);
        ByteBuffer dst = a.data().asNio();
        dst.clear().limit((int) bytes);
        byte[] chunk = new byte[(int) Math.min(CHUNK, bytes)];
        while (dst.hasRemaining()) {
            int n = Math.min(chunk.length, dst.remaining());
            in.readBytes(chunk, 0, n);
            dst.put(chunk, 0, n);
        }
        sync.afterHostWrite(a);
        return a;
    }
}
