package io.sparkmp.model;

import org.deeplearning4j.nn.conf.dropout.IDropout;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.schedule.ISchedule;

/**
 * Inverted dropout whose mask is a pure function of (seed, step, layer, global example index, element):
 * the same example at the same step keeps the same units whatever the split into stages and
 * micro-batches, and a recomputed forward draws the identical mask. DL4J's own {@code Dropout} draws
 * from the per-thread RNG stream, which depends on how the batch was cut.
 *
 * <p>The stage sets the context ({@link #setContext}) before every forward of a micro-batch. The mask of
 * row {@code r} of a layer input with {@code k * examples} rows is keyed by the global example
 * {@code firstExample + r % examples} and the sub-row {@code r / examples}: DL4J's time-distributed 2d
 * activations ({@code [examples * T, n]}, as inside an RnnOutputLayer) hold example e, step t in row
 * {@code t * examples + e}.
 */
final class ExampleSeededDropout implements IDropout {

    private static final long serialVersionUID = 1L;
    private static final long GOLDEN = 0x9E3779B97F4A7C15L;

    private final double p;
    private final ISchedule pSchedule;
    private final long seed;
    private final int layer;
    private long step = -1;
    private long firstExample;
    private long examples;
    private transient INDArray mask;

    /**
     * @param p retain probability (DL4J convention: {@code dropOut(0.8)} keeps 80%)
     * @param pSchedule schedule of the retain probability, or null for the fixed {@code p}
     * @param seed model seed
     * @param layer global layer index in the full model
     */
    ExampleSeededDropout(double p, ISchedule pSchedule, long seed, int layer) {
        this.p = p;
        this.pSchedule = pSchedule;
        this.seed = seed;
        this.layer = layer;
    }

    /** Sets which step and which examples of the mini-batch the next forward sees. */
    void setContext(long step, long firstExample, long examples) {
        this.step = step;
        this.firstExample = firstExample;
        this.examples = examples;
    }

    @Override
    public INDArray applyDropout(INDArray input, INDArray result, int iteration, int epoch, LayerWorkspaceMgr mgr) {
        if (step < 0) {
            throw new IllegalStateException("dropout of layer " + layer + " used before its step context was set");
        }
        double keep = pSchedule != null ? pSchedule.valueAt(iteration, epoch) : p;
        mask = mask(input.shape(), input.dataType(), keep);
        result.assign(input.mul(mask));
        return result;
    }

    @Override
    public INDArray backprop(INDArray gradAtOutput, INDArray gradAtInput, int iteration, int epoch) {
        if (mask == null) {
            throw new IllegalStateException("dropout backprop of layer " + layer + " without a forward mask");
        }
        gradAtInput.assign(gradAtOutput.mul(mask));
        return gradAtInput;
    }

    @Override
    public void clear() {
        mask = null;
    }

    @Override
    public ExampleSeededDropout clone() {
        ExampleSeededDropout c = new ExampleSeededDropout(p, pSchedule, seed, layer);
        c.setContext(step, firstExample, examples);
        return c;
    }

    private INDArray mask(long[] shape, DataType type, double keep) {
        long rows = shape[0];
        if (examples <= 0 || rows % examples != 0) {
            throw new IllegalStateException("dropout of layer " + layer + ": input has " + rows
                    + " rows, not a multiple of the micro-batch size " + examples);
        }
        long rowsPerExample = rows / examples;
        long total = 1;
        for (long s : shape) {
            total *= s;
        }
        int perRow = Math.toIntExact(total / rows);
        double scale = 1.0 / keep;
        double[] data = new double[Math.toIntExact(total)];
        long base = mix(mix(mix(seed, step), layer), 0);
        for (int r = 0; r < rows; r++) {
            // DL4J's time-distributed 2d layout (reshape3dTo2d, RnnToFeedForwardPreProcessor) puts example
            // e, time t in row t * examples + e.
            long example = r % examples;
            long sub = r / examples;
            long rowKey = mix(base, (firstExample + example) * rowsPerExample + sub);
            for (int j = 0; j < perRow; j++) {
                double u = (splitMix(rowKey + (j + 1L) * GOLDEN) >>> 11) * 0x1.0p-53;
                data[r * perRow + j] = u < keep ? scale : 0.0;
            }
        }
        // Out of DL4J's workspaces: the mask lives from the forward until the backward, which may open and close
        // the layer working-memory workspace in between.
        try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
            return Nd4j.create(data, shape, 'c').castTo(type);
        }
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
