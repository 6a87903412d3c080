package io.sparkmp.transport;

import com.esotericsoftware.kryo.io.Output;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Random and mutated byte streams thrown at the frame decoder end in a frame or a clear
 * {@link FrameException}, never another exception, and never allocate more than {@code maxFrameBytes}.
 */
class FrameFuzzTest {
    private static final String JOB = "fuzz";
    private static final long MAX_FRAME = 64 * 1024;

    /** An in-memory stream. */
    private static final class BytesWire implements Wire {
        private ByteBuffer src = ByteBuffer.allocate(0);

        void set(byte[] bytes) {
            src = ByteBuffer.wrap(bytes);
        }

        @Override
        public int read(ByteBuffer dst, long timeoutMillis) {
            if (!src.hasRemaining()) {
                return -1;
            }
            int n = Math.min(src.remaining(), dst.remaining());
            ByteBuffer s = src.slice();
            s.limit(n);
            dst.put(s);
            src.position(src.position() + n);
            return n;
        }

        @Override
        public void write(ByteBuffer[] srcs, long stallMillis) {
            throw new UnsupportedOperationException();
        }

        @Override
        public InetSocketAddress remoteAddress() {
            return new InetSocketAddress("127.0.0.1", 1);
        }

        @Override
        public void close() {
        }
    }

    /** A pool that records every allocation. */
    private static final class WatchedPool extends ReceivePool {
        final AtomicLong allocations = new AtomicLong();
        final AtomicLong largest = new AtomicLong();

        WatchedPool() {
            super(16L << 20);
        }

        @Override
        INDArray allocate(WireDataType dtype, char order, long[] shape, long byteLength) {
            allocations.incrementAndGet();
            largest.accumulateAndGet(byteLength, Math::max);
            return super.allocate(dtype, order, shape, byteLength);
        }
    }

    private final BytesWire wire = new BytesWire();
    private final WatchedPool pool = new WatchedPool();
    private final FrameReader reader = new FrameReader(wire, new FrameCodec(JOB, MAX_FRAME), pool);
    private final FrameCodec encoder = new FrameCodec(JOB, MAX_FRAME);

    private byte[] encode(FrameHeader h, byte[] payload) {
        ByteBuffer head = ByteBuffer.allocate(FrameCodec.MAX_HEADER_BYTES + 4);
        encoder.encode(h, head);
        ByteBuffer all = ByteBuffer.allocate(head.remaining() + payload.length).put(head).put(payload);
        return all.array();
    }

    private byte[] tensorFrame(TensorKey key, INDArray a) {
        WireDataType t = WireDataType.of(a.dataType());
        INDArray c = a.dup('c');
        int bytes = c.isEmpty() ? 0 : (int) (c.length() * t.width);
        byte[] payload = new byte[bytes];
        if (bytes > 0) {
            c.data().asNio().get(payload);
        }
        return encode(FrameHeader.tensor(JOB, key, t, 'c', c.isEmpty(), c.shape(), bytes), payload);
    }

    /**
     * Decodes every frame in {@code bytes}.
     *
     * @return the number of frames decoded before the stream ended cleanly
     * @throws FrameException for a bad frame (anything else escaping is a bug)
     */
    private int decodeAll(byte[] bytes) throws IOException {
        wire.set(bytes);
        reader.reset();
        int frames = 0;
        while (true) {
            FrameReader.Frame f;
            try {
                f = reader.next(1000, 1000);
            } catch (EOFException clean) {
                return frames;
            }
            frames++;
            if (f.tensor() != null) {
                pool.recycle(f.tensor());
            }
        }
    }

    /** A well-formed header with fields set freely (the real serializer cannot write invalid ones). */
    private static byte[] crafted(int classId, int magic, int version, int messageType, String jobId, int frameType,
                                  long step, int dtype, int order, int flags, int rank, long[] dims, long byteLength,
                                  int payloadBytes) {
        Output o = new Output(1024, -1);
        o.writeVarInt(classId + 2, true); // Kryo writes registered class ids offset by 2
        o.writeInt(magic);
        o.writeVarInt(version, true);
        o.writeByte(messageType);
        byte[] id = jobId.getBytes(StandardCharsets.UTF_8);
        o.writeVarInt(id.length, true);
        o.writeBytes(id);
        o.writeVarInt(frameType, true);
        o.writeVarLong(step, true);
        o.writeVarInt(0, true);
        o.writeVarInt(0, true);
        o.writeVarInt(1, true);
        o.writeVarInt(0, true); // tensor index (protocol version 2)
        o.writeByte(dtype);
        o.writeByte(order);
        o.writeByte(flags);
        o.writeByte(rank);
        for (long d : dims) {
            o.writeVarLong(d, true);
        }
        o.writeVarLong(byteLength, true);
        ByteBuffer b = ByteBuffer.allocate(4 + o.position() + payloadBytes);
        b.putInt(o.position()).put(o.getBuffer(), 0, o.position());
        return b.array();
    }

    private static byte[] floatHeader(long[] dims, long byteLength, int payload) {
        return crafted(FrameCodec.HEADER_CLASS_ID, FrameHeader.MAGIC, FrameHeader.PROTOCOL_VERSION, FrameHeader.MSG_TENSOR, JOB, 1, 0, 1, 'c',
                FrameHeader.FLAG_LITTLE_ENDIAN, dims.length, dims, byteLength, payload);
    }

    private FrameException rejected(byte[] bytes) {
        return assertThrows(FrameException.class, () -> decodeAll(bytes));
    }

    @Test
    void craftedValidHeaderDecodes() throws IOException {
        assertEquals(1, decodeAll(floatHeader(new long[] {2, 3}, 24, 24)));
    }

    @Test
    void tenGibDeclaredLengthIsRefusedBeforeAllocating() {
        long tenGib = 10L << 30;
        FrameException e = rejected(floatHeader(new long[] {tenGib / 4}, tenGib, 16));
        assertTrue(e.getMessage().contains("declared payload of 10737418240 bytes exceeds maxFrameBytes (65536)"),
                e.getMessage());
        assertEquals(0, pool.allocations.get());
    }

    @Test
    void specificBadHeadersGiveSpecificErrors() {
        Map<String, byte[]> cases = new java.util.LinkedHashMap<>();
        cases.put("declared rank -1", crafted(FrameCodec.HEADER_CLASS_ID, FrameHeader.MAGIC, FrameHeader.PROTOCOL_VERSION, 1, JOB, 1, 0, 1, 'c',
                2, -1, new long[0], 0, 0));
        cases.put("declared rank 33", crafted(FrameCodec.HEADER_CLASS_ID, FrameHeader.MAGIC, FrameHeader.PROTOCOL_VERSION, 1, JOB, 1, 0, 1, 'c',
                2, 33, new long[0], 0, 0));
        cases.put("unregistered class ID", crafted(57, FrameHeader.MAGIC, FrameHeader.PROTOCOL_VERSION, 1, JOB, 1, 0, 1, 'c', 2, 0,
                new long[0], 4, 4));
        cases.put("class names are not accepted", crafted(-1, FrameHeader.MAGIC, FrameHeader.PROTOCOL_VERSION, 1, JOB, 1, 0, 1, 'c', 2, 0,
                new long[0], 4, 4)); // id 1 on the wire: a class name follows
        cases.put("bad magic", crafted(FrameCodec.HEADER_CLASS_ID, 0x12345678, 1, 1, JOB, 1, 0, 1, 'c', 2, 0,
                new long[0], 4, 4));
        cases.put("protocol version 9", crafted(FrameCodec.HEADER_CLASS_ID, FrameHeader.MAGIC, 9, 1, JOB, 1, 0, 1,
                'c', 2, 0, new long[0], 4, 4));
        cases.put("frame of job 'other'", crafted(FrameCodec.HEADER_CLASS_ID, FrameHeader.MAGIC, FrameHeader.PROTOCOL_VERSION, 1, "other", 1,
                0, 1, 'c', 2, 0, new long[0], 4, 4));
        cases.put("unknown data type id 99", crafted(FrameCodec.HEADER_CLASS_ID, FrameHeader.MAGIC, FrameHeader.PROTOCOL_VERSION, 1, JOB, 1, 0,
                99, 'c', 2, 0, new long[0], 4, 4));
        cases.put("unknown frame type id 42", crafted(FrameCodec.HEADER_CLASS_ID, FrameHeader.MAGIC, FrameHeader.PROTOCOL_VERSION, 1, JOB, 42,
                0, 1, 'c', 2, 0, new long[0], 4, 4));
        cases.put("unknown array order", crafted(FrameCodec.HEADER_CLASS_ID, FrameHeader.MAGIC, FrameHeader.PROTOCOL_VERSION, 1, JOB, 1, 0, 1,
                'x', 2, 0, new long[0], 4, 4));
        cases.put("negative key field", crafted(FrameCodec.HEADER_CLASS_ID, FrameHeader.MAGIC, FrameHeader.PROTOCOL_VERSION, 1, JOB, 1, -5, 1,
                'c', 2, 0, new long[0], 4, 4));
        cases.put("negative dimension -3", floatHeader(new long[] {4, -3}, 48, 48));
        cases.put("overflows a long", floatHeader(new long[] {1L << 40, 1L << 40}, 64, 64));
        cases.put("needs 24", floatHeader(new long[] {2, 3}, 20, 20));
        cases.put("unknown message type 9", crafted(FrameCodec.HEADER_CLASS_ID, FrameHeader.MAGIC, FrameHeader.PROTOCOL_VERSION, 9, JOB, 1, 0,
                1, 'c', 2, 0, new long[0], 4, 4));
        byte[] truncated = floatHeader(new long[] {100}, 400, 400);
        cases.put("stream ended inside a payload after 200 of 400 bytes",
                java.util.Arrays.copyOf(truncated, truncated.length - 200));
        byte[] hugeHeader = ByteBuffer.allocate(8).putInt(Integer.MAX_VALUE).array();
        cases.put("declared header length 2147483647 outside", hugeHeader);
        cases.put("declared header length -7 outside", ByteBuffer.allocate(8).putInt(-7).array());
        cases.put("stream ended inside a frame header", java.util.Arrays.copyOf(truncated, 9));
        for (Map.Entry<String, byte[]> c : cases.entrySet()) {
            FrameException e = rejected(c.getValue());
            assertTrue(e.getMessage().contains(c.getKey()), "expected '" + c.getKey() + "' in: " + e.getMessage());
        }
        // only the truncated payload's header is valid, so it alone got an array before its bytes ran out
        assertEquals(1, pool.allocations.get(), "no bad header reached allocation");
    }

    @Test
    void hundredThousandRandomAndMutatedStreams() throws IOException {
        Random rnd = new Random(20261129);
        List<byte[]> seeds = new ArrayList<>();
        seeds.add(tensorFrame(Loopback.key(3, 1), Nd4j.rand(DataType.FLOAT, 4, 5)));
        seeds.add(tensorFrame(new TensorKey(FrameType.GRADIENT, 1L << 40, 7, 3, 2), Nd4j.rand(DataType.DOUBLE, 3)));
        seeds.add(tensorFrame(Loopback.key(0, 0), Nd4j.createFromArray(1L, 2L, 3L)));
        seeds.add(tensorFrame(Loopback.key(0, 0), Nd4j.scalar(DataType.HALF, 2.5)));
        seeds.add(tensorFrame(Loopback.key(0, 0), Nd4j.create(DataType.INT, 0, 4)));
        seeds.add(encode(FrameHeader.control(FrameHeader.MSG_HEARTBEAT, JOB), new byte[0]));
        int streams = 100_000;
        int decodedFrames = 0;
        int errors = 0;
        for (int i = 0; i < streams; i++) {
            byte[] s = mutate(seeds.get(rnd.nextInt(seeds.size())), seeds, rnd);
            try {
                decodedFrames += decodeAll(s);
            } catch (FrameException e) {
                errors++;
                if (e.getMessage() == null || e.getMessage().isEmpty()) {
                    fail("FrameException without a message for stream " + i);
                }
            } catch (RuntimeException | IOException e) {
                fail("stream " + i + " (" + s.length + " bytes) ended in " + e + " instead of a FrameException", e);
            }
        }
        assertTrue(errors > streams / 2, errors + " errors in " + streams + " streams: mutations must mostly break");
        assertTrue(decodedFrames > 0, "some mutations stay valid (e.g. payload bytes)");
        assertTrue(pool.largest.get() <= MAX_FRAME, "allocated " + pool.largest.get() + " bytes at once");
    }

    private static byte[] mutate(byte[] seed, List<byte[]> seeds, Random rnd) {
        byte[] b = seed.clone();
        switch (rnd.nextInt(8)) {
            case 0 -> { // pure noise
                b = new byte[rnd.nextInt(64)];
                rnd.nextBytes(b);
            }
            case 1 -> { // flip a few bytes anywhere
                for (int k = 1 + rnd.nextInt(4); k > 0; k--) {
                    b[rnd.nextInt(b.length)] ^= (byte) (1 + rnd.nextInt(255));
                }
            }
            case 2 -> b = java.util.Arrays.copyOf(b, rnd.nextInt(b.length)); // truncate
            case 3 -> ByteBuffer.wrap(b).putInt(0, rnd.nextInt()); // header length
            case 4 -> { // header bytes only: flip one
                int headerLength = Math.min(ByteBuffer.wrap(seed).getInt(0), b.length - 4);
                b[4 + rnd.nextInt(headerLength)] = (byte) rnd.nextInt();
            }
            case 5 -> b[4] = (byte) rnd.nextInt(); // Kryo class id: mostly unregistered
            case 6 -> { // two frames, the second damaged
                byte[] second = mutate(seeds.get(rnd.nextInt(seeds.size())), seeds, rnd);
                b = ByteBuffer.allocate(b.length + second.length).put(b).put(second).array();
            }
            default -> { // splice random bytes into the middle
                byte[] noise = new byte[1 + rnd.nextInt(16)];
                rnd.nextBytes(noise);
                int at = rnd.nextInt(b.length);
                b = ByteBuffer.allocate(b.length + noise.length).put(b, 0, at).put(noise).put(b, at, b.length - at)
                        .array();
            }
        }
        return b;
    }

    @Test
    void mutatedFramesOverRealSocketsEndInFramesOrClearErrors() throws Exception {
        TransportConfig c = Loopback.builder(JOB).maxFrameBytes(MAX_FRAME).receiveTimeout(Duration.ofSeconds(5))
                .readTimeout(Duration.ofMillis(300)).idleTimeout(Duration.ofMillis(300))
                .closeTimeout(Duration.ofMillis(100)).build();
        Random rnd = new Random(7);
        TensorKey key = Loopback.key(3, 1);
        byte[] seed = tensorFrame(key, Nd4j.rand(DataType.FLOAT, 4, 5));
        List<byte[]> seeds = List.of(seed);
        int rounds = 120;
        int errors = 0;
        try (SocketTensorChannel server = SocketTensorChannel.open(c, rounds)) {
            for (int r = 0; r < rounds; r++) {
                int rank = r;
                CompletableFuture<Void> up = CompletableFuture.runAsync(
                        () -> server.connect(Map.of(rank, new InetSocketAddress("127.0.0.1", 9))));
                byte[] bytes = r == 0 ? seed : mutate(seed, seeds, rnd);
                try (FakePeer p = FakePeer.dial(c, rank, rounds, server.localAddress())) {
                    up.get(5, TimeUnit.SECONDS);
                    p.write(ByteBuffer.wrap(bytes));
                }
                long t0 = System.nanoTime();
                try {
                    INDArray got = server.receive(rank, key);
                    assertEquals(20, got.length());
                } catch (TransportException e) {
                    errors++;
                    assertTrue(e.getMessage().contains("rank " + rank), e.getMessage());
                }
                assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(3), "round " + r + " took too long");
            }
        }
        assertTrue(errors > rounds / 3, errors + " of " + rounds + " mutated frames were refused");
    }
}
