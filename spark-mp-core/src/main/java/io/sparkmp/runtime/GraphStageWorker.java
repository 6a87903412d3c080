package io.sparkmp.runtime;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.sparkmp.model.GraphStage;
import io.sparkmp.model.GraphStageSpan;
import io.sparkmp.schedule.Action;
import io.sparkmp.schedule.Schedule;
import io.sparkmp.transport.FrameType;
import io.sparkmp.transport.TensorChannel;
import io.sparkmp.transport.TensorKey;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;

/**
 * One device's share of a graph pipeline: it runs its actions of a compute schedule (F, B, STEP of its virtual
 * stages) over a {@link TensorChannel}. Every tensor crossing a cut travels under its own key: ACTIVATION or
 * GRADIENT, the step, the micro-batch, the stage pair, and the tensor's index in the cut's list (the sender's
 * {@link GraphStageSpan#sent} is the receiver's {@link GraphStageSpan#received}; gradients index the lists of the
 * tensors that get one). Graph inputs and labels are read from the step's data where they enter.
 */
final class GraphStageWorker {

    private final ComputationGraphConfiguration conf;
    private final Schedule schedule;
    private final int device;
    private final List<GraphStage> stages;
    private final TensorChannel channel;

    /** @param stages every virtual stage of the pipeline, index = stage; this worker runs those of {@code device} */
    GraphStageWorker(ComputationGraphConfiguration conf, Schedule schedule, int device, List<GraphStage> stages,
                     TensorChannel channel) {
        this.conf = conf;
        this.schedule = schedule;
        this.device = device;
        this.stages = stages;
        this.channel = channel;
    }

    /** Runs the device's actions for one mini-batch; returns its stages' summed loss terms (see GraphPipeline). */
    double runStep(long step, int epoch, MultiDataSet ds, int microBatches) {
        return runStep(step, epoch, ds, Math.toIntExact(ds.getFeatures(0).size(0)), microBatches);
    }

    /**
     * As {@link #runStep(long, int, MultiDataSet, int)} with the mini-batch's size given: {@code dsOrNull} may be null
     * on a device whose stages neither take a graph input nor hold an output (a Spark rank that reads no data).
     */
    double runStep(long step, int epoch, MultiDataSet dsOrNull, int n, int microBatches) {
        MultiDataSet ds = dsOrNull;
        int size = n / microBatches;
        double regularization = 0;
        for (int s = device; s < stages.size(); s += schedule.devices()) {
            stages.get(s).beginStep(step, epoch, size);
            regularization += stages.get(s).regularizationScore();
        }
        double loss = 0;
        for (Action a : schedule.actions(device)) {
            GraphStage stage = stages.get(a.stage());
            switch (a.type()) {
                case FORWARD -> forward(step, a, stage, ds, size);
                case BACKWARD -> backward(step, a, stage);
                case STEP -> {
                    stage.applyUpdate(n);
                    loss += stage.lossSum();
                }
                default -> throw new IllegalStateException("a graph stage runs compute schedules only (F, B, STEP), found "
                        + a);
            }
        }
        return loss / microBatches + regularization;
    }

    private void forward(long step, Action a, GraphStage stage, MultiDataSet ds, int size) {
        int s = a.stage();
        GraphStageSpan span = stage.span();
        Map<String, INDArray> in = new LinkedHashMap<>();
        for (int i = 0; i < span.received().size(); i++) {
            in.put(span.received().get(i), channel.receive(peer(s - 1),
                    new TensorKey(FrameType.ACTIVATION, step, a.microBatch(), s - 1, s, i)));
        }
        if (ds == null && (!span.entering().isEmpty() || !span.outputs().isEmpty())) {
            throw new IllegalStateException("stage " + s + " takes inputs " + span.entering() + " and holds outputs "
                    + span.outputs() + " but device " + device + " was given no data for step " + step);
        }
        for (String t : span.entering()) {
            in.put(t, GraphPipeline.rows(ds.getFeatures(conf.getNetworkInputs().indexOf(t)), a.microBatch(), size));
        }
        Map<String, INDArray> labels = new LinkedHashMap<>();
        for (String o : span.outputs()) {
            labels.put(o, GraphPipeline.rows(ds.getLabels(conf.getNetworkOutputs().indexOf(o)), a.microBatch(), size));
        }
        Map<String, INDArray> out = stage.forward(a.microBatch(), in, labels);
        for (int i = 0; i < span.sent().size(); i++) {
            channel.send(peer(s + 1), new TensorKey(FrameType.ACTIVATION, step, a.microBatch(), s, s + 1, i),
                    out.get(span.sent().get(i)));
        }
    }

    private void backward(long step, Action a, GraphStage stage) {
        int s = a.stage();
        GraphStageSpan span = stage.span();
        List<String> needed = span.sentWithGradient();
        Map<String, INDArray> grads = new LinkedHashMap<>();
        for (int i = 0; i < needed.size(); i++) {
            grads.put(needed.get(i), channel.receive(peer(s + 1),
                    new TensorKey(FrameType.GRADIENT, step, a.microBatch(), s + 1, s, i)));
        }
        Map<String, INDArray> back = stage.backward(a.microBatch(), grads);
        List<String> sending = span.receivedWithGradient();
        for (int i = 0; i < sending.size() && s > 0; i++) {
            channel.send(peer(s - 1), new TensorKey(FrameType.GRADIENT, step, a.microBatch(), s, s - 1, i),
                    back.get(sending.get(i)));
        }
    }

    private int peer(int stage) {
        return schedule.deviceOf(stage);
    }
}
