package io.sparkmp.model;

import org.deeplearning4j.nn.conf.dropout.AlphaDropout;
import org.deeplearning4j.nn.conf.dropout.Dropout;
import org.deeplearning4j.nn.conf.dropout.GaussianDropout;
import org.deeplearning4j.nn.conf.dropout.GaussianNoise;
import org.deeplearning4j.nn.conf.dropout.IDropout;
import org.deeplearning4j.nn.conf.dropout.SpatialDropout;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.schedule.ISchedule;

/**
 * Dropout whose noise is a pure function of (seed, step, layer, global example index, element): the same
 * example at the same step gets the same noise whatever the split into stages and micro-batches, and a
 * recomputed forward draws the identical noise. DL4J's own dropout kinds draw from the per-thread RNG stream,
 * which depends on how the batch was cut. Each DL4J kind keeps its semantics; every kind is
 * {@code out = in * mul + add} with {@code backprop = grad * mul}:
 * <ul>
 *   <li>{@code Dropout(p)}: inverted dropout, {@code mul} = 1/p with probability p (retain), else 0;</li>
 *   <li>{@code GaussianDropout(rate)}: {@code mul} ~ N(1, rate / (1 - rate));</li>
 *   <li>{@code GaussianNoise(stddev)}: {@code add} ~ N(0, stddev^2), {@code mul} = 1;</li>
 *   <li>{@code AlphaDropout(p)}: {@code mul} = a * d, {@code add} = a * alpha' * (1 - d) + b with d ~ Bernoulli(p)
 *       and DL4J's own a(p), b(p), alpha';</li>
 *   <li>{@code SpatialDropout(p)}: as Dropout, one draw per (example, channel), shared by every position of that
 *       channel (dimension 1 of a rank 3 to 5 input).</li>
 * </ul>
 *
 * <p>The stage sets the context ({@link #setContext}) before every forward of a micro-batch; clones (DL4J clones
 * the dropout of a wrapped layer) share it. The noise of row {@code r} of a layer input with
 * {@code k * examples} rows is keyed by the global example {@code firstExample + r % examples} and the sub-row
 * {@code r / examples}: DL4J's time-distributed 2d activations ({@code [examples * T, n]}, as inside an
 * RnnOutputLayer) hold example e, step t in row {@code t * examples + e}.
 */
final class ExampleSeededDropout implements IDropout {

    private static final long serialVersionUID = 1L;
    private static final long GOLDEN = 0x9E3779B97F4A7C15L;

    /** The DL4J dropout kinds this class regenerates per example. */
    static final String SUPPORTED = "Dropout, GaussianDropout, GaussianNoise, AlphaDropout and SpatialDropout";

    enum Kind { DROPOUT, GAUSSIAN_DROPOUT, GAUSSIAN_NOISE, ALPHA_DROPOUT, SPATIAL_DROPOUT }

    /** Which step and examples the next forward sees; shared by a dropout and its clones. */
    static final class Context implements java.io.Serializable {
        private static final long serialVersionUID = 1L;
        private long step = -1;
        private long firstExample;
        private long examples;

        /** Sets which step and which examples of the mini-batch the next forward sees. */
        void set(long step, long firstExample, long examples) {
            this.step = step;
            this.firstExample = firstExample;
            this.examples = examples;
        }
    }

    private final Kind kind;
    private final double p;
    private final ISchedule pSchedule;
    /** AlphaDropout only: DL4J's own instance, for its a(p), b(p) and alpha'. */
    private final AlphaDropout alpha;
    private final long seed;
    private final int layer;
    private final Context context;
    private transient INDArray mul;

    /**
     * Plain inverted dropout.
     *
     * @param p retain probability (DL4J convention: {@code dropOut(0.8)} keeps 80%)
     * @param pSchedule schedule of the retain probability, or null for the fixed {@code p}
     * @param seed model seed
     * @param layer global layer index in the full model
     */
    ExampleSeededDropout(double p, ISchedule pSchedule, long seed, int layer) {
        this(Kind.DROPOUT, p, pSchedule, null, seed, layer, new Context());
    }

    private ExampleSeededDropout(Kind kind, double p, ISchedule pSchedule, AlphaDropout alpha, long seed, int layer,
                                 Context context) {
        this.kind = kind;
        this.p = p;
        this.pSchedule = pSchedule;
        this.alpha = alpha;
        this.seed = seed;
        this.layer = layer;
        this.context = context;
    }

    /** Whether {@code d} is a dropout kind this class regenerates per example (exact classes). */
    static boolean supports(IDropout d) {
        return d instanceof ExampleSeededDropout || d.getClass() == Dropout.class || d.getClass() == GaussianDropout.class
                || d.getClass() == GaussianNoise.class || d.getClass() == AlphaDropout.class
                || d.getClass() == SpatialDropout.class;
    }

    /**
     * The example-keyed replacement of DL4J's {@code d} for layer {@code layer}, sharing {@code context}.
     *
     * @throws IllegalArgumentException for a kind not in {@link #SUPPORTED}
     */
    static ExampleSeededDropout of(IDropout d, long seed, int layer, Context context) {
        if (d.getClass() == Dropout.class) {
            Dropout x = (Dropout) d;
            return new ExampleSeededDropout(Kind.DROPOUT, x.getP(), x.getPSchedule(), null, seed, layer, context);
        }
        if (d.getClass() == GaussianDropout.class) {
            GaussianDropout x = (GaussianDropout) d;
            return new ExampleSeededDropout(Kind.GAUSSIAN_DROPOUT, x.getRate(), x.getRateSchedule(), null, seed, layer,
                    context);
        }
        if (d.getClass() == GaussianNoise.class) {
            GaussianNoise x = (GaussianNoise) d;
            return new ExampleSeededDropout(Kind.GAUSSIAN_NOISE, x.getStddev(), x.getStddevSchedule(), null, seed, layer,
                    context);
        }
        if (d.getClass() == AlphaDropout.class) {
            AlphaDropout x = (AlphaDropout) d;
            return new ExampleSeededDropout(Kind.ALPHA_DROPOUT, x.getP(), x.getPSchedule(), x.clone(), seed, layer,
                    context);
        }
        if (d.getClass() == SpatialDropout.class) {
            SpatialDropout x = (SpatialDropout) d;
            return new ExampleSeededDropout(Kind.SPATIAL_DROPOUT, x.getP(), x.getPSchedule(), null, seed, layer, context);
        }
        throw new IllegalArgumentException("layer " + layer + ": dropout " + d.getClass().getSimpleName()
                + " cannot be regenerated per example; supported: " + SUPPORTED);
    }

    /** Which DL4J kind this dropout stands for. */
    Kind kind() {
        return kind;
    }

    /** The context this dropout and its clones read. */
    Context context() {
        return context;
    }

    /** Sets which step and which examples of the mini-batch the next forward sees (for this dropout and its clones). */
    void setContext(long step, long firstExample, long examples) {
        context.set(step, firstExample, examples);
    }

    @Override
    public INDArray applyDropout(INDArray input, INDArray result, int iteration, int epoch, LayerWorkspaceMgr mgr) {
        if (context.step < 0) {
            throw new IllegalStateException("dropout of layer " + layer + " used before its step context was set");
        }
        double value = pSchedule != null ? pSchedule.valueAt(iteration, epoch) : p;
        INDArray[] noise = noise(input.shape(), input.dataType(), value);
        mul = noise[0];
        INDArray out = mul == null ? input.dup() : input.mul(mul);
        if (noise[1] != null) {
            out.addi(noise[1]);
        }
        result.assign(out);
        return result;
    }

    @Override
    public INDArray backprop(INDArray gradAtOutput, INDArray gradAtInput, int iteration, int epoch) {
        if (kind == Kind.GAUSSIAN_NOISE) {
            gradAtInput.assign(gradAtOutput);
            return gradAtInput;
        }
        if (mul == null) {
            throw new IllegalStateException("dropout backprop of layer " + layer + " without a forward mask");
        }
        gradAtInput.assign(gradAtOutput.mul(mul));
        return gradAtInput;
    }

    @Override
    public void clear() {
        mul = null;
    }

    @Override
    public ExampleSeededDropout clone() {
        return new ExampleSeededDropout(kind, p, pSchedule, alpha, seed, layer, context);
    }

    /** {mul, add} for an input of {@code shape}; either may be null (1, 0). */
    private INDArray[] noise(long[] shape, DataType type, double value) {
        long rows = shape[0];
        long examples = context.examples;
        if (examples <= 0 || rows % examples != 0) {
            throw new IllegalStateException("dropout of layer " + layer + ": input has " + rows
                    + " rows, not a multiple of the micro-batch size " + examples);
        }
        if (kind == Kind.SPATIAL_DROPOUT && (shape.length < 3 || shape.length > 5)) {
            throw new IllegalStateException("SpatialDropout of layer " + layer + " needs a rank 3 to 5 input, found shape "
                    + java.util.Arrays.toString(shape));
        }
        long rowsPerExample = rows / examples;
        long total = 1;
        for (long s : shape) {
            total *= s;
        }
        int perRow = Math.toIntExact(total / rows);
        // SpatialDropout: one draw per channel (dimension 1), shared by the channel's positions.
        int positions = kind == Kind.SPATIAL_DROPOUT ? Math.toIntExact(perRow / shape[1]) : 1;
        double[] mulData = kind == Kind.GAUSSIAN_NOISE ? null : new double[Math.toIntExact(total)];
        double[] addData = kind == Kind.GAUSSIAN_NOISE || kind == Kind.ALPHA_DROPOUT ? new double[Math.toIntExact(total)] : null;
        double stdev = kind == Kind.GAUSSIAN_DROPOUT ? Math.sqrt(value / (1.0 - value)) : value;
        double a = kind == Kind.ALPHA_DROPOUT ? alpha.a(value) : 0;
        double b = kind == Kind.ALPHA_DROPOUT ? alpha.b(value) : 0;
        double alphaPrime = kind == Kind.ALPHA_DROPOUT ? alpha.getAlphaPrime() : 0; // -lambda * alpha
        long base = mix(mix(mix(seed, context.step), layer), 0);
        for (int r = 0; r < rows; r++) {
            // DL4J's time-distributed 2d layout (reshape3dTo2d, RnnToFeedForwardPreProcessor) puts example
            // e, time t in row t * examples + e.
            long example = r % examples;
            long sub = r / examples;
            long rowKey = mix(base, (context.firstExample + example) * rowsPerExample + sub);
            for (int j = 0; j < perRow; j++) {
                int i = r * perRow + j;
                int key = j / positions;
                switch (kind) {
                    case DROPOUT, SPATIAL_DROPOUT -> mulData[i] = uniform(rowKey, key) < value ? 1.0 / value : 0.0;
                    case GAUSSIAN_DROPOUT -> mulData[i] = 1.0 + stdev * gaussian(rowKey, key);
                    case GAUSSIAN_NOISE -> addData[i] = stdev * gaussian(rowKey, key);
                    case ALPHA_DROPOUT -> {
                        boolean keep = uniform(rowKey, key) < value;
                        mulData[i] = keep ? a : 0.0;
                        addData[i] = (keep ? 0.0 : a * alphaPrime) + b;
                    }
                    default -> throw new IllegalStateException(kind.toString());
                }
            }
        }
        // Out of DL4J's workspaces: the noise lives from the forward until the backward, which may open and close
        // the layer working-memory workspace in between.
        try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
            return new INDArray[] {mulData == null ? null : Nd4j.create(mulData, shape, 'c').castTo(type),
                    addData == null ? null : Nd4j.create(addData, shape, 'c').castTo(type)};
        }
    }

    /** Uniform in [0, 1) for element {@code key} of the row keyed {@code rowKey} (the plain Dropout draw). */
    private static double uniform(long rowKey, long key) {
        return (splitMix(rowKey + (key + 1L) * GOLDEN) >>> 11) * 0x1.0p-53;
    }

    /** Standard normal for element {@code key} (Box-Muller on two further draws of the element). */
    private static double gaussian(long rowKey, long key) {
        long k = mix(rowKey, key);
        double u1 = ((splitMix(k + GOLDEN) >>> 11) + 1) * 0x1.0p-53; // (0, 1]: log is finite
        double u2 = (splitMix(k + 2 * GOLDEN) >>> 11) * 0x1.0p-53;
        return Math.sqrt(-2.0 * Math.log(u1)) * Math.cos(2.0 * Math.PI * u2);
    }

    static long mix(long a, long b) {
        return splitMix(a ^ splitMix(b + GOLDEN));
    }

    static long splitMix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
