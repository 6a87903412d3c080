package io.sparkmp.transport;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.KryoException;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The header in front of every frame's raw payload. Written by Kryo with an explicit serializer that
 * checks every declared size (job id length, rank, dimensions) before it allocates anything, so a hostile
 * or corrupt header costs at most its own bounded length.
 */
final class FrameHeader {
    static final int MAGIC = 0x53504D54; // "SPMT"
    static final int PROTOCOL_VERSION = 2; // 2: a tensor index after the target stage
    /** ND4J's largest rank; also bounds the shape array read from the wire. */
    static final int MAX_RANK = 32;

    static final int MSG_TENSOR = 1;
    static final int MSG_HEARTBEAT = 2;
    static final int MSG_GOODBYE = 3;

    static final int FLAG_EMPTY = 1;
    static final int FLAG_LITTLE_ENDIAN = 2;

    final int magic;
    final int version;
    final int messageType;
    final String jobId;
    final int frameTypeId;
    final long step;
    final int microBatch;
    final int sourceStage;
    final int targetStage;
    final int tensor;
    final int dataTypeId;
    final char order;
    final int flags;
    final long[] shape;
    final long byteLength;

    FrameHeader(int magic, int version, int messageType, String jobId, int frameTypeId, long step, int microBatch,
                int sourceStage, int targetStage, int tensor, int dataTypeId, char order, int flags, long[] shape,
                long byteLength) {
        this.magic = magic;
        this.version = version;
        this.messageType = messageType;
        this.jobId = jobId;
        this.frameTypeId = frameTypeId;
        this.step = step;
        this.microBatch = microBatch;
        this.sourceStage = sourceStage;
        this.targetStage = targetStage;
        this.tensor = tensor;
        this.dataTypeId = dataTypeId;
        this.order = order;
        this.flags = flags;
        this.shape = shape;
        this.byteLength = byteLength;
    }

    static FrameHeader control(int messageType, String jobId) {
        return new FrameHeader(MAGIC, PROTOCOL_VERSION, messageType, jobId, 0, 0, 0, 0, 0, 0, 0, 'c', 0,
                new long[0], 0);
    }

    static FrameHeader tensor(String jobId, TensorKey key, WireDataType dtype, char order, boolean empty,
                              long[] shape, long byteLength) {
        int flags = (empty ? FLAG_EMPTY : 0)
                | (java.nio.ByteOrder.nativeOrder() == java.nio.ByteOrder.LITTLE_ENDIAN ? FLAG_LITTLE_ENDIAN : 0);
        return new FrameHeader(MAGIC, PROTOCOL_VERSION, MSG_TENSOR, jobId, key.type().wireId(), key.step(),
                key.microBatch(), key.sourceStage(), key.targetStage(), key.tensor(), dtype.id, order, flags, shape,
                byteLength);
    }

    @Override
    public String toString() {
        return "FrameHeader[type=" + messageType + ", job=" + jobId + ", frameType=" + frameTypeId + ", step=" + step
                + ", microBatch=" + microBatch + ", stages=" + sourceStage + "->" + targetStage + ", tensor=" + tensor
                + ", dtype="
                + dataTypeId + ", order=" + order + ", shape=" + Arrays.toString(shape) + ", bytes=" + byteLength + "]";
    }

    /** Kryo serializer with bounded reads; registered for {@link FrameHeader} only. */
    static final class KryoSerializer extends Serializer<FrameHeader> {
        KryoSerializer() {
            setImmutable(true);
        }

        @Override
        public void write(Kryo kryo, Output out, FrameHeader h) {
            out.writeInt(h.magic);
            out.writeVarInt(h.version, true);
            out.writeByte(h.messageType);
            byte[] id = h.jobId.getBytes(StandardCharsets.UTF_8);
            out.writeVarInt(id.length, true);
            out.writeBytes(id);
            out.writeVarInt(h.frameTypeId, true);
            out.writeVarLong(h.step, true);
            out.writeVarInt(h.microBatch, true);
            out.writeVarInt(h.sourceStage, true);
            out.writeVarInt(h.targetStage, true);
            out.writeVarInt(h.tensor, true);
            out.writeByte(h.dataTypeId);
            out.writeByte(h.order);
            out.writeByte(h.flags);
            out.writeByte(h.shape.length);
            for (long d : h.shape) {
                out.writeVarLong(d, true);
            }
            out.writeVarLong(h.byteLength, true);
        }

        @Override
        public FrameHeader read(Kryo kryo, Input in, Class<FrameHeader> type) {
            int magic = in.readInt();
            if (magic != MAGIC) {
                throw new KryoException(String.format("bad magic 0x%08x (expected 0x%08x)", magic, MAGIC));
            }
            int version = in.readVarInt(true);
            if (version != PROTOCOL_VERSION) {
                throw new KryoException("protocol version " + version + " is not supported (this side speaks "
                        + PROTOCOL_VERSION + ")");
            }
            int messageType = in.readByte();
            int idLength = in.readVarInt(true);
            if (idLength < 0 || idLength > TransportConfig.MAX_JOB_ID_BYTES) {
                throw new KryoException("declared job id length " + idLength + " outside [0, "
                        + TransportConfig.MAX_JOB_ID_BYTES + "]");
            }
            String jobId = new String(in.readBytes(idLength), StandardCharsets.UTF_8);
            int frameTypeId = in.readVarInt(true);
            long step = in.readVarLong(true);
            int microBatch = in.readVarInt(true);
            int sourceStage = in.readVarInt(true);
            int targetStage = in.readVarInt(true);
            int tensor = in.readVarInt(true);
            int dataTypeId = in.readByte();
            char order = (char) in.readByte();
            int flags = in.readByte();
            int rank = in.readByte();
            if (rank < 0 || rank > MAX_RANK) {
                throw new KryoException("declared rank " + rank + " outside [0, " + MAX_RANK + "]");
            }
            long[] shape = new long[rank];
            for (int i = 0; i < rank; i++) {
                shape[i] = in.readVarLong(true);
            }
            long byteLength = in.readVarLong(true);
            return new FrameHeader(magic, version, messageType, jobId, frameTypeId, step, microBatch, sourceStage,
                    targetStage, tensor, dataTypeId, order, flags, shape, byteLength);
        }
    }
}
