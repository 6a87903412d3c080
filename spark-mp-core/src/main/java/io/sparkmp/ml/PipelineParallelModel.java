package io.sparkmp.ml;

import io.sparkmp.runtime.PipelineSpec;
import io.sparkmp.spark.PipelineInference;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.ml.Model;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.util.MLReadable;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.ml.util.MLWritable;
import org.apache.spark.ml.util.MLWriter;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.StructType;
import scala.Tuple2;

import java.net.URI;
import java.util.ArrayList;
import java.util.List;

/**
 * A model trained by {@link PipelineParallelEstimator}: its layers live in a per-layer store (never as one blob
 * on the driver). {@link #transform} adds {@code predictionCol} (the class index as a double, or the regression
 * value) and, for classification, {@code probabilityCol} (an ML Vector of the output layer's values), so
 * {@code MulticlassClassificationEvaluator} and {@code RegressionEvaluator} work on the result.
 *
 * <p>Transform runs pipelined (a barrier job over the trained split: each executor holds only its stages, the
 * rows flow through the socket channel in micro-batches of {@code transformBatchSize}, forward only) or per
 * partition without a barrier (each task holds the whole model) when the model fits one device by the
 * planner's estimate; {@code transformMode} overrides. A ComputationGraph model (one input, one output) transforms
 * per partition only, each task assembling the whole graph from the store. A pipelined transform does not keep the row order (it
 * joins the predictions back by row index) and needs the split's stage count of free task slots.
 *
 * <p>{@code write().overwrite().save(path)} writes Spark ML's metadata (the Params) under {@code path/metadata},
 * the split under {@code path/sparkmp.json} and the layers as a per-layer store under {@code path/store};
 * {@link #load} reads them back (the layers stay in the store; tasks read their own).
 */
public final class PipelineParallelModel extends Model<PipelineParallelModel>
        implements PipelineParallelParams, MLWritable {
    private static final long serialVersionUID = 1L;

    private final String uid;
    private final ParamDecls decls;
    private final TrainedModel trained;
    private final URI store;
    private final ModelFit fitInfo;

    PipelineParallelModel(String uid, TrainedModel trained, URI store, ModelFit fitInfo) {
        this.uid = uid;
        this.decls = new ParamDecls(this);
        decls.setDefaults(this);
        this.trained = trained;
        this.store = store;
        this.fitInfo = fitInfo;
    }

    @Override
    public String uid() {
        return uid;
    }

    /** The declarations of this instance (one per owner, so each Param's parent is this instance's uid). */
    ParamDecls decls() {
        return decls;
    }

    /** The per-layer store holding the trained layers (a scratch store until {@link #write()} saves it). */
    public URI store() {
        return store;
    }

    /**
     * Layer index where each trained stage starts, then the layer count; for a ComputationGraph, the index of the
     * vertex in the graph's topological order, then the vertex count.
     */
    public int[] stageBoundaries() {
        return trained.boundaries();
    }

    /** The trained split's pipeline ranks (executors a pipelined transform uses; a graph's training ranks). */
    public int devices() {
        return trained.devices();
    }

    /** Whether {@code transformMode = auto} runs per partition (the model fits one device, or P = 1). */
    public boolean fitsOneDevice() {
        return fitInfo.fitsOneDevice();
    }

    TrainedModel trained() {
        return trained;
    }

    ModelFit fitInfo() {
        return fitInfo;
    }

    public PipelineParallelModel setFeaturesCol(String v) {
        return (PipelineParallelModel) set(featuresCol(), v);
    }

    public PipelineParallelModel setPredictionCol(String v) {
        return (PipelineParallelModel) set(predictionCol(), v);
    }

    public PipelineParallelModel setProbabilityCol(String v) {
        return (PipelineParallelModel) set(probabilityCol(), v);
    }

    /** {@code auto}, {@code pipelined} or {@code local}. */
    public PipelineParallelModel setTransformMode(String v) {
        return (PipelineParallelModel) set(transformMode(), v);
    }

    public PipelineParallelModel setTransformBatchSize(int v) {
        return (PipelineParallelModel) set(transformBatchSize(), v);
    }

    /**
     * Whether transform runs pipelined, after {@code transformMode} ({@code auto} runs a ComputationGraph per
     * partition; {@code pipelined} is refused for one).
     */
    public boolean transformsPipelined() {
        String mode = getTransformMode();
        return mode.equals(ParamDecls.PIPELINED)
                || (mode.equals(ParamDecls.AUTO) && trained.pipelines() && !fitInfo.fitsOneDevice());
    }

    /**
     * Scores {@code dataset}; its features column is checked first (present, an ML Vector of the model's input
     * width), before any job.
     *
     * @throws IllegalArgumentException for a bad features column, or {@code transformMode = pipelined} on a
     *     ComputationGraph model
     */
    @Override
    public Dataset<Row> transform(Dataset<?> dataset) {
        PipelineSpec split = transformsPipelined() ? trained.pipelinedSplit() : null;
        StructType out = transformSchema(dataset.schema(), true);
        Dataset<Row> df = dataset.toDF();
        ModelColumns.requireVectorSize(df, getFeaturesCol(), trained.config().inputWidth());
        RowScoring scoring = new RowScoring(df.schema().fieldIndex(getFeaturesCol()), getFeaturesCol(),
                getNumClasses());
        int rowsPerBatch = getTransformBatchSize();
        JavaRDD<Row> rows;
        if (split != null) {
            JavaPairRDD<Long, Row> indexed = df.javaRDD().zipWithIndex().mapToPair(Tuple2::swap);
            JavaPairRDD<Long, double[]> features = indexed.mapValues(scoring::features);
            JavaPairRDD<Long, double[]> outputs = PipelineInference.pipelined(df.sparkSession().sparkContext(),
                    split, store, features, rowsPerBatch);
            rows = indexed.join(outputs).values().map(t -> scoring.append(t._1(), t._2()));
        } else {
            PipelineInference.RowScorer scorer = trained.localScorer(df.sparkSession().sparkContext(), store);
            rows = df.javaRDD().mapPartitions(it -> scoring.scorePartition(it, scorer, rowsPerBatch));
        }
        return df.sparkSession().createDataFrame(rows, out);
    }

    @Override
    public StructType transformSchema(StructType schema) {
        return ModelColumns.outputSchema(schema, getFeaturesCol(), trained.config().inputWidth(), getNumClasses(),
                getPredictionCol(), getProbabilityCol());
    }

    @Override
    public PipelineParallelModel copy(ParamMap extra) {
        PipelineParallelModel m = copyValues(new PipelineParallelModel(uid, trained, store, fitInfo), extra);
        return m.setParent(parent());
    }

    @Override
    public MLWriter write() {
        return new ModelPersistence.Writer(this);
    }

    public static MLReader<PipelineParallelModel> read() {
        return new ModelPersistence.Reader();
    }

    public static PipelineParallelModel load(String path) {
        return read().load(path);
    }

    /** Row-level work of transform, serializable without the model. */
    record RowScoring(int featuresIndex, String featuresCol, int numClasses) implements java.io.Serializable {

        double[] features(Row r) {
            if (r.isNullAt(featuresIndex)) {
                throw new IllegalArgumentException("null in features column `" + featuresCol + "`, row " + r);
            }
            Object v = r.get(featuresIndex);
            if (v instanceof org.apache.spark.ml.linalg.Vector vec) {
                return vec.toArray();
            }
            scala.collection.Seq<?> seq = (scala.collection.Seq<?>) v;
            double[] out = new double[seq.size()];
            for (int i = 0; i < out.length; i++) {
                out[i] = ((Number) seq.apply(i)).doubleValue();
            }
            return out;
        }

        /** {@code r} with the prediction (and probability) appended. */
        Row append(Row r, double[] output) {
            int n = r.size();
            Object[] values = new Object[n + (numClasses > 0 ? 2 : 1)];
            for (int i = 0; i < n; i++) {
                values[i] = r.get(i);
            }
            if (numClasses > 0) {
                int best = 0;
                for (int k = 1; k < output.length; k++) {
                    if (output[k] > output[best]) {
                        best = k;
                    }
                }
                values[n] = (double) best;
                values[n + 1] = org.apache.spark.ml.linalg.Vectors.dense(output);
            } else {
                values[n] = output[0];
            }
            return org.apache.spark.sql.RowFactory.create(values);
        }

        java.util.Iterator<Row> scorePartition(java.util.Iterator<Row> it, PipelineInference.RowScorer scorer,
                                               int rowsPerBatch) {
            return new java.util.Iterator<>() {
                private final List<Row> batch = new ArrayList<>();
                private double[][] scored = new double[0][];
                private int next;

                @Override
                public boolean hasNext() {
                    if (next < batch.size()) {
                        return true;
                    }
                    batch.clear();
                    next = 0;
                    List<double[]> xs = new ArrayList<>();
                    while (it.hasNext() && batch.size() < rowsPerBatch) {
                        Row r = it.next();
                        batch.add(r);
                        xs.add(features(r));
                    }
                    scored = scorer.score(xs);
                    return !batch.isEmpty();
                }

                @Override
                public Row next() {
                    if (!hasNext()) {
                        throw new java.util.NoSuchElementException();
                    }
                    Row r = append(batch.get(next), scored[next]);
                    next++;
                    return r;
                }
            };
        }
    }
}
