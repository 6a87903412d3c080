package io.sparkmp.runtime;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * One optimizer step's training rows as stage 0 reads them: a micro-batch at a time, so that no more than
 * one micro-batch's rows need be in memory at once. Each read returns a fresh, contiguous ('c') array that
 * the caller owns: examples {@code [from, from + count)} of the mini-batch.
 *
 * <p>{@link #of(DataSet)} wraps a mini-batch already in memory (tests, {@link InProcessPipeline}); the Spark
 * task's implementation reads the micro-batch's rows straight from the spilled training data.
 */
@io.sparkmp.Internal
public interface MiniBatch {

    /** Examples in the mini-batch. */
    int examples();

    /** Whether the mini-batch has a features mask. */
    boolean hasFeaturesMask();

    /** Whether the mini-batch has a labels mask. */
    boolean hasLabelsMask();

    /** Features of examples [from, from + count). */
    INDArray features(int from, int count);

    /** Labels of examples [from, from + count). */
    INDArray labels(int from, int count);

    /** Features mask of examples [from, from + count); only when {@link #hasFeaturesMask()}. */
    INDArray featuresMask(int from, int count);

    /** Labels mask of examples [from, from + count); only when {@link #hasLabelsMask()}. */
    INDArray labelsMask(int from, int count);

    /** A mini-batch held in memory; null for null. */
    static MiniBatch of(DataSet ds) {
        if (ds == null) {
            return null;
        }
        return new MiniBatch() {
            @Override
            public int examples() {
                return ds.numExamples();
            }

            @Override
            public boolean hasFeaturesMask() {
                return ds.getFeaturesMaskArray() != null;
            }

            @Override
            public boolean hasLabelsMask() {
                return ds.getLabelsMaskArray() != null;
            }

            @Override
            public INDArray features(int from, int count) {
                return rows(ds.getFeatures(), from, count);
            }

            @Override
            public INDArray labels(int from, int count) {
                return rows(ds.getLabels(), from, count);
            }

            @Override
            public INDArray featuresMask(int from, int count) {
                return rows(ds.getFeaturesMaskArray(), from, count);
            }

            @Override
            public INDArray labelsMask(int from, int count) {
                return rows(ds.getLabelsMaskArray(), from, count);
            }
        };
    }

    /** Rows [from, from + count) of {@code a} along its first dimension, as a fresh 'c' array. */
    static INDArray rows(INDArray a, long from, long count) {
        INDArrayIndex[] idx = new INDArrayIndex[a.rank()];
        idx[0] = NDArrayIndex.interval(from, from + count);
        for (int i = 1; i < idx.length; i++) {
            idx[i] = NDArrayIndex.all();
        }
        return a.get(idx).dup('c');
    }
}
