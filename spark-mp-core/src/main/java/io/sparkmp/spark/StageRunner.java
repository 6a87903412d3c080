package io.sparkmp.spark;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

import java.util.Map;

/** One rank's share of the pipeline inside a barrier task: the seam between the task body and the engine. */
interface StageRunner extends AutoCloseable {

    /**
     * Runs every action of this rank for one mini-batch (optimizer step).
     *
     * @param miniBatchOrNull the mini-batch on rank 0, null on the other ranks
     */
    RankStep runStep(int epoch, long step, DataSet miniBatchOrNull);

    /** The current parameters of this rank's layers, by global layer index. */
    Map<Integer, INDArray> layerParameters();

    /** The updater state (e.g. Adam moments) of this rank's layers, by global layer index; may be empty. */
    Map<Integer, INDArray> updaterState();

    @Override
    void close();
}
