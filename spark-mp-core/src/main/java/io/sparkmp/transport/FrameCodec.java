package io.sparkmp.transport;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.KryoException;
import com.esotericsoftware.kryo.Registration;
import com.esotericsoftware.kryo.util.DefaultClassResolver;
import com.esotericsoftware.kryo.util.MapReferenceResolver;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Encodes and checks frame headers. A frame on the wire is {@code [int headerLength][Kryo header][payload]};
 * the payload is the tensor's raw bytes in the header's order and dtype. Not thread-safe: one codec per
 * reader or writer thread (Kryo instances are not thread-safe).
 */
final class FrameCodec {
    /** Upper bound of an encoded header: fixed fields, a 256-byte job id and 32 ten-byte dimensions fit in 1 KiB. */
    static final int MAX_HEADER_BYTES = 1024;
    /** Kryo registration id of {@link FrameHeader} on our own wire (Spark's Kryo numbers it itself). */
    static final int HEADER_CLASS_ID = 101;

    private final Kryo kryo = newKryo();
    private final Output output = new Output(MAX_HEADER_BYTES);
    private final Input input = new Input();
    private final String jobId;
    private final long maxFrameBytes;

    FrameCodec(String jobId, long maxFrameBytes) {
        this.jobId = jobId;
        this.maxFrameBytes = maxFrameBytes;
    }

    /**
     * A Kryo that knows only our header class; every other class id is refused, and a class given by name is
     * refused before Kryo would look it up (so the wire cannot make this JVM load classes).
     */
    static Kryo newKryo() {
        Kryo k = new Kryo(new DefaultClassResolver() {
            @Override
            protected Registration readName(Input input) {
                throw new KryoException("class names are not accepted on the wire, only registered class ids");
            }
        }, new MapReferenceResolver());
        k.setRegistrationRequired(true);
        k.setReferences(false);
        k.register(FrameHeader.class, new FrameHeader.KryoSerializer(), HEADER_CLASS_ID);
        return k;
    }

    /** Writes {@code [length][header]} into {@code dst} (cleared first) and flips it for writing. */
    void encode(FrameHeader header, ByteBuffer dst) {
        output.setPosition(0);
        kryo.writeClassAndObject(output, header);
        int n = output.position();
        dst.clear();
        dst.order(ByteOrder.BIG_ENDIAN).putInt(n).put(output.getBuffer(), 0, n).flip();
    }

    /** Checks a header length prefix before the header bytes are read. */
    static int checkHeaderLength(int n) {
        if (n < 1 || n > MAX_HEADER_BYTES) {
            throw new FrameException("declared header length " + n + " outside [1, " + MAX_HEADER_BYTES + "]");
        }
        return n;
    }

    /**
     * Decodes and validates a header: registered class, magic, version, job id, message and frame type,
     * dtype, order, dimensions and the payload length against the shape and {@code maxFrameBytes}.
     *
     * @throws FrameException naming the first violated rule
     */
    FrameHeader decode(byte[] bytes, int length) {
        Object o;
        input.setBuffer(bytes, 0, length);
        try {
            o = kryo.readClassAndObject(input);
        } catch (RuntimeException e) { // KryoException, also for unregistered class ids
            throw new FrameException("malformed frame header: " + e.getMessage(), e);
        }
        if (!(o instanceof FrameHeader h)) {
            throw new FrameException("frame header decoded to " + (o == null ? "null" : o.getClass().getName())
                    + ", expected a FrameHeader");
        }
        if (input.position() != length) {
            throw new FrameException("frame header has " + (length - input.position()) + " trailing bytes");
        }
        if (!jobId.equals(h.jobId)) {
            throw new FrameException("frame of job '" + h.jobId + "' on a link of job '" + jobId + "'");
        }
        switch (h.messageType) {
            case FrameHeader.MSG_HEARTBEAT, FrameHeader.MSG_GOODBYE -> {
                if (h.byteLength != 0) {
                    throw new FrameException("control message " + h.messageType + " declares a payload of "
                            + h.byteLength + " bytes");
                }
                return h;
            }
            case FrameHeader.MSG_TENSOR -> checkTensor(h);
            default -> throw new FrameException("unknown message type " + h.messageType);
        }
        return h;
    }

    private void checkTensor(FrameHeader h) {
        try {
            FrameType.fromWireId(h.frameTypeId);
        } catch (IllegalArgumentException e) {
            throw new FrameException("unknown frame type id " + h.frameTypeId);
        }
        if (h.step < 0 || h.microBatch < 0 || h.sourceStage < 0 || h.targetStage < 0 || h.tensor < 0) {
            throw new FrameException("negative key field in " + h);
        }
        WireDataType dtype = WireDataType.fromId(h.dataTypeId);
        if (dtype == null) {
            throw new FrameException("unknown data type id " + h.dataTypeId);
        }
        if (h.order != 'c' && h.order != 'f') {
            throw new FrameException("unknown array order " + (int) h.order + " (expected 'c' or 'f')");
        }
        boolean little = ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN;
        if (((h.flags & FrameHeader.FLAG_LITTLE_ENDIAN) != 0) != little) {
            throw new FrameException("peer byte order differs from this side's (" + ByteOrder.nativeOrder() + ")");
        }
        if ((h.flags & ~(FrameHeader.FLAG_EMPTY | FrameHeader.FLAG_LITTLE_ENDIAN)) != 0) {
            throw new FrameException("unknown header flags 0x" + Integer.toHexString(h.flags));
        }
        if (h.byteLength < 0 || h.byteLength > maxFrameBytes) {
            throw new FrameException("declared payload of " + h.byteLength + " bytes exceeds maxFrameBytes ("
                    + maxFrameBytes + ")");
        }
        boolean empty = (h.flags & FrameHeader.FLAG_EMPTY) != 0;
        long elements = 1;
        try {
            for (long d : h.shape) {
                if (d < 0) {
                    throw new FrameException("negative dimension " + d + " in shape "
                            + java.util.Arrays.toString(h.shape));
                }
                elements = Math.multiplyExact(elements, d);
            }
            if (empty != (h.shape.length == 0 ? empty : elements == 0)) {
                throw new FrameException("empty flag " + empty + " does not match shape "
                        + java.util.Arrays.toString(h.shape));
            }
            if (empty) {
                elements = 0;
            }
            long expected = Math.multiplyExact(elements, (long) dtype.width);
            if (expected != h.byteLength) {
                throw new FrameException("declared payload of " + h.byteLength + " bytes but shape "
                        + java.util.Arrays.toString(h.shape) + " of " + dtype + " needs " + expected);
            }
        } catch (ArithmeticException e) {
            throw new FrameException("shape " + java.util.Arrays.toString(h.shape) + " overflows a long");
        }
        if (elements > Integer.MAX_VALUE) { // a payload within maxFrameBytes always fits, keep it explicit
            throw new FrameException("shape " + java.util.Arrays.toString(h.shape) + " has too many elements");
        }
    }

    static TensorKey keyOf(FrameHeader h) {
        return new TensorKey(FrameType.fromWireId(h.frameTypeId), h.step, h.microBatch, h.sourceStage, h.targetStage, h.tensor);
    }
}
