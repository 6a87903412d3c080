package io.sparkmp.plan;

import java.io.Serializable;
import java.util.List;

/**
 * One (virtual) stage of a {@link PipelinePlan}. Times and bytes are per micro-batch.
 *
 * @param index virtual stage index (0-based)
 * @param device pipeline rank that runs it ({@code index % devices})
 * @param firstLayer first layer (inclusive)
 * @param endLayer last layer + 1 (exclusive)
 * @param layerNames names of its layers, in order
 * @param parameters trainable parameters
 * @param memory memory estimate against the budget
 * @param forwardSeconds forward compute of one micro-batch
 * @param backwardSeconds backward compute of one micro-batch
 * @param sendSeconds its sends of one micro-batch (activation forward + input gradient back)
 * @param timeSeconds forward + backward + sends: what the partitioner balanced
 * @param bytesSentForward activation bytes it sends to the next stage (0 on the last)
 * @param bytesSentBackward input-gradient bytes it sends to the previous stage (0 on the first)
 * @param recompute whether it re-runs each micro-batch's forward before the backward (its backwardSeconds then
 *     include that forward); false: it keeps the activations of its micro-batches in flight
 * @param sentTensors for a graph model, the tensors it sends to the next stage (skip connections it relays
 *     included); empty for a sequential model (it sends its last layer's output) and on the last stage
 * @param allReduces with R &gt; 1 replicas: its layers' gradient sums in hand-over order (top layer first), each
 *     handed over when its backward in the stage's last backward of a mini-batch is done, and run one after
 *     another on the rank's all-reduce thread; empty with one replica
 * @param deferredSeconds of the {@code backwardSeconds} of one micro-batch, the weight-gradient products of its
 *     dense layers that the runtime defers to the step's end ({@code spark.mp.deferWeightGradients}, M &gt; 1): the
 *     simulator runs M times this in the stage's STEP instead of in each B; 0 when nothing is deferred
 */
public record StagePlan(int index, int device, int firstLayer, int endLayer, List<String> layerNames, long parameters,
                        StageMemory memory, double forwardSeconds, double backwardSeconds, double sendSeconds,
                        double timeSeconds, long bytesSentForward, long bytesSentBackward, boolean recompute,
                        List<String> sentTensors,
                        List<io.sparkmp.schedule.LayerAllReduce> allReduces, double deferredSeconds)
        implements Serializable {

    private static final long serialVersionUID = 1L;

    /** A stage of a sequential model. */
    public StagePlan(int index, int device, int firstLayer, int endLayer, List<String> layerNames, long parameters,
                     StageMemory memory, double forwardSeconds, double backwardSeconds, double sendSeconds,
                     double timeSeconds, long bytesSentForward, long bytesSentBackward, boolean recompute) {
        this(index, device, firstLayer, endLayer, layerNames, parameters, memory, forwardSeconds, backwardSeconds,
                sendSeconds, timeSeconds, bytesSentForward, bytesSentBackward, recompute, List.of(), List.of(), 0);
    }

    /** As the canonical constructor, deferring nothing. */
    public StagePlan(int index, int device, int firstLayer, int endLayer, List<String> layerNames, long parameters,
                     StageMemory memory, double forwardSeconds, double backwardSeconds, double sendSeconds,
                     double timeSeconds, long bytesSentForward, long bytesSentBackward, boolean recompute,
                     List<String> sentTensors, List<io.sparkmp.schedule.LayerAllReduce> allReduces) {
        this(index, device, firstLayer, endLayer, layerNames, parameters, memory, forwardSeconds, backwardSeconds,
                sendSeconds, timeSeconds, bytesSentForward, bytesSentBackward, recompute, sentTensors, allReduces, 0);
    }

    public StagePlan {
        sentTensors = sentTensors == null ? List.of() : List.copyOf(sentTensors);
        allReduces = allReduces == null ? List.of() : List.copyOf(allReduces);
        layerNames = List.copyOf(layerNames);
        if (!(deferredSeconds >= 0) || deferredSeconds > backwardSeconds) {
            throw new IllegalArgumentException("stage " + index + ": deferredSeconds must be in [0, backwardSeconds = "
                    + backwardSeconds + "], found " + deferredSeconds);
        }
        if (endLayer <= firstLayer) {
            throw new IllegalArgumentException("stage " + index + " is empty: layers [" + firstLayer + ", " + endLayer + ")");
        }
    }

    /** Number of layers. */
    public int layerCount() {
        return endLayer - firstLayer;
    }
}
