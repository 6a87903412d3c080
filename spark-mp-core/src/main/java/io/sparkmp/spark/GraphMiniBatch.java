package io.sparkmp.spark;

import io.sparkmp.runtime.MiniBatch;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;

/**
 * One optimizer step's rows of a graph job, whole in memory: every input's features and every output's labels. The
 * {@link MiniBatch} view gives input 0 and output 0 (a single-input single-output graph); a graph rank reads
 * {@link #data()}.
 */
record GraphMiniBatch(MultiDataSet data) implements MiniBatch {

    @Override
    public int examples() {
        return Math.toIntExact(data.getFeatures(0).size(0));
    }

    @Override
    public boolean hasFeaturesMask() {
        return data.getFeaturesMaskArrays() != null;
    }

    @Override
    public boolean hasLabelsMask() {
        return data.getLabelsMaskArrays() != null;
    }

    @Override
    public INDArray features(int from, int count) {
        return MiniBatch.rows(data.getFeatures(0), from, count);
    }

    @Override
    public INDArray labels(int from, int count) {
        return MiniBatch.rows(data.getLabels(0), from, count);
    }

    @Override
    public INDArray featuresMask(int from, int count) {
        return MiniBatch.rows(data.getFeaturesMaskArray(0), from, count);
    }

    @Override
    public INDArray labelsMask(int from, int count) {
        return MiniBatch.rows(data.getLabelsMaskArray(0), from, count);
    }
}
