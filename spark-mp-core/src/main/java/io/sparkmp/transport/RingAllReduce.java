package io.sparkmp.transport;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;

/**
 * Sums one flat vector across an ordered ring of ranks, in place, over an existing {@link TensorChannel}:
 * a reduce-scatter then an all-gather, each of R − 1 rounds, so every member sends and receives
 * 2(R − 1)/R of the vector, whatever R is.
 *
 * <p><b>Chunks.</b> The vector of n elements is cut into R chunks, chunk c being elements
 * [⌊c·n/R⌋, ⌊(c+1)·n/R⌋) ({@link #chunkStart}); chunks differ by at most one element and are empty when
 * n &lt; R. Each chunk travels in pieces of at most {@code pieceBytes}, and a member forwards a piece as soon as
 * it has added it, so the rounds overlap (pipelining) instead of waiting for whole chunks.
 *
 * <p><b>Fixed summation order.</b> With x<sub>q</sub> the vector of the member at ring position q (its index in
 * {@code ringRanks}) and positions taken mod R, chunk c of the result is
 * (…((x<sub>c+1</sub> + x<sub>c+2</sub>) + x<sub>c+3</sub>) + … + x<sub>c+R−1</sub>) + x<sub>c</sub>:
 * the partial sum starts at the member after c, travels once round the ring, and the member at position c adds
 * its own last and then owns the finished chunk, which the all-gather copies unchanged to the others. The
 * order depends only on the ring and n, never on timing, so every member ends with bit-identical values and a
 * repeated reduction gives the same bits. (Piece size does not change it: the sum is element by element.)
 *
 * <p><b>Messages.</b> Member q sends only to its right neighbour (position q + 1) and receives only from its
 * left one (q − 1), under {@link TensorKey#allReduce} keys of frame type {@link FrameType#ALLREDUCE} (so they
 * never clash with pipeline frames) that carry the step, the tag, the round (2·chunk for the reduce-scatter,
 * 2·chunk + 1 for the all-gather, 2R for the closing acknowledgement) and the piece. Sends are views of
 * {@code flat} itself (no copy); to honour the channel's rule that a sent tensor is not changed afterwards,
 * each member, once it has taken its last piece, acknowledges it to its left neighbour and waits for its right
 * neighbour's acknowledgement before returning, so when {@link #sumInPlace} returns no message of it still
 * reads {@code flat}, and the caller may change it (e.g. the updater, which works on the gradient in place).
 * All-gather pieces are named to the channel in advance ({@link TensorChannel#expectInto}), so a socket channel
 * reads them straight into {@code flat}; a channel that does not, hands them over to be copied.
 *
 * <p>Misuse: every member must call {@link #sumInPlace} with the same ring, the same step and tag, and a vector of
 * the same length and data type (a piece of another length or type fails naming both); a (step, tag) pair must
 * not be reduced twice on one ring while the first is still running. Reductions with different tags may run
 * concurrently from different threads. Instances are immutable and thread-safe.
 */
@io.sparkmp.Internal
public final class RingAllReduce {
    /** Default largest piece: large enough that per-message costs vanish, small enough to pipeline the rounds. */
    public static final long DEFAULT_PIECE_BYTES = 1L << 20;

    private static final int REDUCE_SCATTER = 0;
    private static final int ALL_GATHER = 1;

    private final TensorChannel channel;
    private final int[] ring;
    private final int position;
    private final long timeoutMillis;
    private final long pieceBytes;

    /** A ring with {@link #DEFAULT_PIECE_BYTES} pieces. */
    public RingAllReduce(TensorChannel channel, int[] ringRanks, long timeoutMillis) {
        this(channel, ringRanks, timeoutMillis, DEFAULT_PIECE_BYTES);
    }

    /**
     * @param channel this member's channel; it must be linked to both ring neighbours
     * @param ringRanks the ranks of the ring in ring order (the order fixes the summation order); must contain
     *        {@code channel.localRank()} once, no rank twice, no negative rank
     * @param timeoutMillis longest wait for one piece from the left neighbour
     * @param pieceBytes largest piece a chunk is sent in (at least one element is sent per piece)
     * @throws IllegalArgumentException naming the offending value
     */
    public RingAllReduce(TensorChannel channel, int[] ringRanks, long timeoutMillis, long pieceBytes) {
        if (channel == null) {
            throw new IllegalArgumentException("channel must not be null");
        }
        if (ringRanks == null || ringRanks.length == 0) {
            throw new IllegalArgumentException("ringRanks must name at least one rank, found "
                    + Arrays.toString(ringRanks));
        }
        if (timeoutMillis <= 0) {
            throw new IllegalArgumentException("timeoutMillis must be positive, found " + timeoutMillis);
        }
        if (pieceBytes <= 0) {
            throw new IllegalArgumentException("pieceBytes must be positive, found " + pieceBytes);
        }
        this.ring = ringRanks.clone();
        Set<Integer> seen = new HashSet<>();
        for (int r : ring) {
            if (r < 0) {
                throw new IllegalArgumentException("ringRanks must be >= 0, found " + r + " in " + Arrays.toString(ring));
            }
            if (!seen.add(r)) {
                throw new IllegalArgumentException("ringRanks names rank " + r + " twice: " + Arrays.toString(ring));
            }
        }
        this.position = indexOf(ring, channel.localRank());
        if (position < 0) {
            throw new IllegalArgumentException("ringRanks " + Arrays.toString(ring) + " does not contain this rank ("
                    + channel.localRank() + ")");
        }
        this.channel = channel;
        this.timeoutMillis = timeoutMillis;
        this.pieceBytes = pieceBytes;
    }

    /** Number of members R. */
    public int size() {
        return ring.length;
    }

    /** This member's position in the ring (its index in {@code ringRanks}). */
    public int position() {
        return position;
    }

    /** First element of chunk {@code c} when {@code length} elements are cut into {@code chunks}: ⌊c·length/chunks⌋. */
    public static long chunkStart(long length, int chunks, int c) {
        if (length < 0 || chunks < 1 || c < 0 || c > chunks) {
            throw new IllegalArgumentException("chunkStart needs length >= 0, chunks >= 1 and c in [0, chunks], found "
                    + "length " + length + ", chunks " + chunks + ", c " + c);
        }
        // c·length/chunks without overflowing a long for any array length.
        return c * (length / chunks) + (c * (length % chunks)) / chunks;
    }

    /** Elements of one piece: {@code pieceBytes} of {@code type}, at least one. */
    static long pieceElements(long pieceBytes, DataType type) {
        return Math.max(1, pieceBytes / type.width());
    }

    /**
     * Replaces {@code flat} on every member by the sum of all members' {@code flat}, in the fixed order of the
     * class comment. A ring of one member returns at once. Blocks until this member has every finished chunk
     * and its right neighbour has taken every piece sent to it.
     *
     * @param flat a contiguous vector (rank 1, or a row or column) of a numeric type; same length and type on
     *        every member
     * @param step the optimizer step the reduction belongs to
     * @param tag which reduction within the step (e.g. the layer); same on every member
     * @throws IllegalArgumentException for a null, non-contiguous or non-numeric {@code flat}, or a negative step
     *         or tag
     * @throws TransportException when a piece does not arrive within the timeout, the link fails, or a piece of
     *         another length or type arrives; the message names this rank, the peer, the phase, chunk and piece.
     *         After a failure {@code flat} is undefined, and all-gather pieces may still land in it until the channel
     *         is closed: a failed reduction ends the attempt
     */
    public void sumInPlace(INDArray flat, long step, int tag) {
        INDArray v = vectorOf(flat);
        if (step < 0 || tag < 0) {
            throw new IllegalArgumentException("step and tag must be >= 0, found step " + step + ", tag " + tag);
        }
        int r = ring.length;
        if (r == 1 || v.length() == 0) {
            return;
        }
        Reduction red = new Reduction(v, step, tag);
        red.expectAllGather();
        red.reduceScatter();
        red.allGather();
        red.closeWithNeighbours();
    }

    private static INDArray vectorOf(INDArray flat) {
        if (flat == null) {
            throw new IllegalArgumentException("flat must not be null");
        }
        DataType t = flat.dataType();
        if (!t.isNumerical()) {
            throw new IllegalArgumentException("flat must be numeric, found " + t);
        }
        if (flat.isEmpty()) {
            return flat;
        }
        if (!flat.isVectorOrScalar() || (flat.length() > 1 && flat.elementWiseStride() != 1)) {
            throw new IllegalArgumentException("flat must be a contiguous vector, found shape "
                    + Arrays.toString(flat.shape()) + " with element stride " + flat.elementWiseStride());
        }
        return flat.rank() == 1 ? flat : flat.reshape(flat.length());
    }

    private static int indexOf(int[] a, int x) {
        for (int i = 0; i < a.length; i++) {
            if (a[i] == x) {
                return i;
            }
        }
        return -1;
    }

    /** One call's state: the vector, its key fields and the two neighbours. */
    private final class Reduction {
        private final INDArray v;
        private final long step;
        private final int tag;
        private final int r = ring.length;
        private final int left = ring[(position - 1 + ring.length) % ring.length];
        private final int right = ring[(position + 1) % ring.length];
        private final long pieceLength;
        /** Views of the vector's pieces, by chunk and piece: what is sent, added to, and landed in. */
        private final INDArray[][] parts;

        Reduction(INDArray v, long step, int tag) {
            this.v = v;
            this.step = step;
            this.tag = tag;
            this.pieceLength = pieceElements(pieceBytes, v.dataType());
            this.parts = new INDArray[r][];
            for (int c = 0; c < r; c++) {
                parts[c] = new INDArray[pieces(c)];
                for (int k = 0; k < parts[c].length; k++) {
                    parts[c][k] = v.get(NDArrayIndex.interval(pieceStart(c, k), pieceEnd(c, k)));
                }
            }
        }

        /**
         * Reduce-scatter: round s sends chunk (q − s − 1) and receives chunk (q − s − 2), adding this member's values
         * to it; after round R − 2 this member's chunk q is finished.
         */
        void reduceScatter() {
            phase(REDUCE_SCATTER, mod(position - 1));
        }

        /**
         * Names, before anything is sent, where each all-gather piece lands: its place in the vector. Safe that
         * early: the finished chunk c can only come back after this member's last use of chunk c in the
         * reduce-scatter (its partial sum went round the ring to the owner first).
         */
        void expectAllGather() {
            for (int c = 0; c < r; c++) {
                for (int k = 0; c != position && k < parts[c].length; k++) {
                    channel.expectInto(left, key(c, k, ALL_GATHER), parts[c][k]);
                }
            }
        }

        /** All-gather: round s sends chunk (q − s) and receives chunk (q − s − 1), copying it. */
        void allGather() {
            phase(ALL_GATHER, position);
        }

        /**
         * R − 1 rounds: chunk {@code first} goes out, then round s takes chunk (first − s − 1) from the left, piece
         * by piece, adds or copies it into this member's vector and forwards each piece at once as the next
         * round's (but in the last round).
         */
        private void phase(int phase, int first) {
            sendChunk(first, phase);
            for (int s = 0; s < r - 1; s++) {
                int c = mod(first - s - 1);
                for (int k = 0; k < pieces(c); k++) {
                    INDArray mine = parts[c][k];
                    INDArray got = take(c, k, phase);
                    if (phase == REDUCE_SCATTER) {
                        mine.addi(got);
                        channel.recycle(got);
                    } else if (got != mine) { // not read in place (see expectAllGather)
                        mine.assign(got);
                        channel.recycle(got);
                    }
                    if (s < r - 2) {
                        channel.send(right, key(c, k, phase), mine);
                    }
                }
            }
        }

        /** Tells the left neighbour its pieces were all taken, and waits until the right one says the same. */
        void closeWithNeighbours() {
            TensorKey done = TensorKey.allReduce(step, tag, 2 * r, 0);
            channel.send(left, done, Nd4j.zeros(DataType.BYTE, 1));
            INDArray ack;
            try {
                ack = channel.receive(right, done, timeoutMillis);
            } catch (TransportException e) {
                throw new TransportException(where() + ": rank " + channel.localRank() + " got no acknowledgement from "
                        + "rank " + right + " (right neighbour) that it took every piece, within " + timeoutMillis
                        + " ms: " + e.getMessage(), e);
            }
            channel.recycle(ack);
        }

        private void sendChunk(int c, int phase) {
            for (int k = 0; k < pieces(c); k++) {
                channel.send(right, key(c, k, phase), parts[c][k]);
            }
        }

        private INDArray take(int c, int k, int phase) {
            INDArray got;
            try {
                got = channel.receive(left, key(c, k, phase), timeoutMillis);
            } catch (TransportException e) {
                throw new TransportException(where() + ": rank " + channel.localRank() + " got no " + phaseName(phase)
                        + " chunk " + c + " (piece " + k + " of " + pieces(c) + ") from rank " + left
                        + " (left neighbour) within " + timeoutMillis + " ms: " + e.getMessage(), e);
            }
            long want = pieceEnd(c, k) - pieceStart(c, k);
            if (got.length() != want || got.dataType() != v.dataType()) {
                throw new TransportException(where() + ": rank " + channel.localRank() + " got " + phaseName(phase)
                        + " chunk " + c + " piece " + k + " with " + got.length() + " " + got.dataType() + " from rank "
                        + left + ", expected " + want + " " + v.dataType() + " (every member must reduce a vector of "
                        + v.length() + " " + v.dataType() + ")");
            }
            return got;
        }

        private TensorKey key(int c, int k, int phase) {
            return TensorKey.allReduce(step, tag, 2 * c + phase, k);
        }

        private long chunkBegin(int c) {
            return chunkStart(v.length(), r, c);
        }

        private int pieces(int c) {
            long n = chunkBegin(c + 1) - chunkBegin(c);
            return Math.toIntExact((n + pieceLength - 1) / pieceLength);
        }

        private long pieceStart(int c, int k) {
            return chunkBegin(c) + k * pieceLength;
        }

        private long pieceEnd(int c, int k) {
            return Math.min(pieceStart(c, k) + pieceLength, chunkBegin(c + 1));
        }

        private int mod(int i) {
            return ((i % r) + r) % r;
        }

        private String where() {
            return "ring all-reduce (step " + step + ", tag " + tag + ", ring " + Arrays.toString(ring) + ")";
        }

        private String phaseName(int phase) {
            return phase == REDUCE_SCATTER ? "reduce-scatter" : "all-gather";
        }
    }
}
