package io.sparkmp.runtime;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.IntConsumer;

import io.sparkmp.model.GraphParameters;
import io.sparkmp.model.GraphSlicer;
import io.sparkmp.model.GraphStage;
import io.sparkmp.model.GraphStageSpan;
import io.sparkmp.model.GraphSupport;
import io.sparkmp.schedule.Action;
import io.sparkmp.schedule.ActionType;
import io.sparkmp.schedule.Schedule;
import io.sparkmp.schedule.ScheduleGrid;
import io.sparkmp.schedule.ScheduleKind;
import io.sparkmp.schedule.Schedules;
import io.sparkmp.transport.TensorChannel;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Trains a ComputationGraph as a pipeline of {@link GraphStage}s in one thread of one JVM: the stages' actions of
 * a schedule run in an order the schedule allows (each device's list in order, a device waiting while the tensors
 * its next action needs are not there yet), and tensors pass through a mailbox with one key per tensor: direction,
 * micro-batch, the neighbour pair and the tensor's name. {@link #fitOnThreads} runs one thread per device over
 * in-process tensor channels instead. The reference for the graph path and its tests; on Spark each rank runs its
 * own device's stages with {@link GraphRank} (the same {@link GraphStageWorker}).
 *
 * <p>Each step's loss is DL4J's score of the mini-batch: the outputs' mean losses, averaged over the micro-batches,
 * plus every stage's regularization term before the update.
 */
@io.sparkmp.Internal
public final class GraphPipeline {

    /**
     * What to run.
     *
     * @param conf the graph
     * @param boundaries stage boundaries over {@link GraphSlicer#order} (P * v + 1 entries)
     * @param kind the schedule
     * @param devices P
     * @param microBatches M per mini-batch
     * @param stagesPerDevice v (1 unless interleaved)
     * @param seed initial parameters derive from it ({@link GraphParameters})
     */
    public record Spec(ComputationGraphConfiguration conf, int[] boundaries, ScheduleKind kind, int devices,
                       int microBatches, int stagesPerDevice, long seed) {
        public Spec {
            if (conf == null || kind == null) {
                throw new IllegalArgumentException("conf and kind must not be null");
            }
            GraphSupport.validate(conf);
            boundaries = boundaries.clone();
            if (boundaries.length - 1 != devices * stagesPerDevice) {
                throw new IllegalArgumentException("boundaries give " + (boundaries.length - 1) + " stages, but devices ("
                        + devices + ") x stagesPerDevice (" + stagesPerDevice + ") = " + devices * stagesPerDevice);
            }
        }
    }

    /**
     * What a run produced.
     *
     * @param losses per-step loss, in step order
     * @param parameters final parameters by vertex name
     * @param steps optimizer steps run
     */
    public record Result(ComputationGraphConfiguration conf, List<Double> losses, Map<String, INDArray> parameters,
                         int steps) {

        /** The trained graph (parameters and iteration count; the updater state starts fresh). */
        public ComputationGraph toGraph() {
            ComputationGraph g = new ComputationGraph(conf.clone());
            g.init();
            GraphParameters.assign(g, parameters);
            g.getConfiguration().setIterationCount(steps);
            return g;
        }
    }

    private enum Direction { FORWARD, BACKWARD }

    /** One tensor in the mailbox. */
    private record TensorId(Direction direction, int microBatch, int from, int to, String tensor) {
    }

    private final Spec spec;
    private final Map<String, INDArray> initialParams;
    private Map<Integer, List<INDArray>> lastUpdaterState = Map.of();

    /**
     * Copies of the updater state after the last {@link #fit} or {@link #fitOnThreads}, per layer vertex with state,
     * keyed by the vertex's index in {@link io.sparkmp.model.GraphSlicer#order} (as
     * {@link io.sparkmp.model.GraphLayerState#stateSegments} of the whole graph keys DL4J's); empty before.
     */
    public Map<Integer, List<INDArray>> lastUpdaterState() {
        return lastUpdaterState;
    }

    /** @param initialParamsOrNull starting parameters by vertex name, or null for {@link GraphParameters} of the seed */
    public GraphPipeline(Spec spec, Map<String, INDArray> initialParamsOrNull) {
        if (spec == null) {
            throw new IllegalArgumentException("spec must not be null");
        }
        this.spec = spec;
        this.initialParams = initialParamsOrNull;
    }

    /**
     * Trains for {@code epochs} passes over {@code miniBatches}, one optimizer step per mini-batch, in this thread.
     *
     * @throws IllegalArgumentException before any work for data that does not fit the graph or the micro-batches
     */
    public Result fit(List<MultiDataSet> miniBatches, int epochs) {
        Schedule schedule = prepare(miniBatches, epochs);
        List<GraphStage> stages = buildStages();
        List<Double> losses = new ArrayList<>();
        long step = 0;
        for (int e = 0; e < epochs; e++) {
            for (MultiDataSet ds : miniBatches) {
                losses.add(runStep(schedule, stages, step++, e, ds));
            }
        }
        return result(stages, losses);
    }

    /**
     * As {@link #fit}, with one thread per device, each running its actions over an in-process
     * {@link io.sparkmp.transport.TensorChannel} ({@link GraphStageWorker}): the stages overlap as the schedule
     * allows, and every tensor travels under its own key as it would between executors. When a device fails the
     * channels close, the others stop at their next receive, and the first failure is thrown.
     *
     * @param receiveTimeout longest wait of one receive before the run fails naming the peer and the key
     */
    public Result fitOnThreads(List<MultiDataSet> miniBatches, int epochs, Duration receiveTimeout) {
        Schedule schedule = prepare(miniBatches, epochs);
        List<InProcessChannel> channels = InProcessChannel.connect(schedule.devices(), receiveTimeout);
        return runOnChannels(schedule, channels, miniBatches, epochs, device -> { },
                device -> channels.get(device).close(), () -> channels.get(0).closeAll());
    }

    /**
     * As {@link #fitOnThreads}, over channels the caller opened (e.g. {@link io.sparkmp.transport.SocketTensorChannel}s
     * on loopback), one per device, index = device. Each device's thread first runs {@code connect} for its device
     * (linking it to its peers); a failure closes every channel. The caller closes the channels afterwards.
     */
    public Result fitOnChannels(List<? extends TensorChannel> channels, IntConsumer connect,
                                List<MultiDataSet> miniBatches, int epochs) {
        Schedule schedule = prepare(miniBatches, epochs);
        if (channels == null || channels.size() != schedule.devices()) {
            throw new IllegalArgumentException("one channel per device: " + schedule.devices() + " devices, found "
                    + (channels == null ? 0 : channels.size()) + " channels");
        }
        return runOnChannels(schedule, channels, miniBatches, epochs, connect, device -> { },
                () -> channels.forEach(TensorChannel::close));
    }

    private Result runOnChannels(Schedule schedule, List<? extends TensorChannel> channels, List<MultiDataSet> miniBatches,
                                 int epochs, IntConsumer connect, IntConsumer finish, Runnable stopAll) {
        List<GraphStage> stages = buildStages();
        int p = schedule.devices();
        int steps = epochs * miniBatches.size();
        double[][] perDevice = new double[p][steps];
        RankThreads.run("sparkmp-graph-device-", p, device -> {
            connect.accept(device);
            GraphStageWorker w = new GraphStageWorker(spec.conf(), schedule, device, stages, channels.get(device));
            long step = 0;
            for (int e = 0; e < epochs; e++) {
                for (MultiDataSet ds : miniBatches) {
                    perDevice[device][(int) step] = w.runStep(step, e, ds, spec.microBatches());
                    step++;
                }
            }
        }, finish, stopAll, "the graph pipeline's devices");
        List<Double> losses = new ArrayList<>();
        for (int i = 0; i < steps; i++) {
            double l = 0;
            for (int d = 0; d < p; d++) {
                l += perDevice[d][i];
            }
            losses.add(l);
        }
        return result(stages, losses);
    }

    private Schedule prepare(List<MultiDataSet> miniBatches, int epochs) {
        if (miniBatches == null || miniBatches.isEmpty()) {
            throw new IllegalArgumentException("miniBatches must not be empty");
        }
        if (epochs <= 0) {
            throw new IllegalArgumentException("epochs must be positive, found " + epochs);
        }
        for (int i = 0; i < miniBatches.size(); i++) {
            GraphSupport.validateData(spec.conf(), miniBatches.get(i), "mini-batch " + i);
            long n = miniBatches.get(i).getFeatures(0).size(0);
            if (n % spec.microBatches() != 0) {
                throw new IllegalArgumentException("microBatches (" + spec.microBatches() + ") must divide the size (" + n
                        + ") of mini-batch " + i);
            }
        }
        return Schedules.generate(spec.kind(), spec.devices(), spec.microBatches(), spec.stagesPerDevice());
    }

    private List<GraphStage> buildStages() {
        List<GraphStage> stages = new ArrayList<>();
        for (GraphStageSpan span : GraphSlicer.slice(spec.conf(), spec.boundaries())) {
            stages.add(GraphStage.build(spec.conf(), span, spec.seed(), initialParams));
        }
        return stages;
    }

    private Result result(List<GraphStage> stages, List<Double> losses) {
        Map<String, INDArray> params = new TreeMap<>();
        Map<Integer, List<INDArray>> state = new TreeMap<>();
        for (GraphStage s : stages) {
            params.putAll(s.parameters());
            for (Map.Entry<Integer, List<INDArray>> e : s.stateSegments().entrySet()) {
                state.put(e.getKey(), e.getValue().stream().map(INDArray::dup).toList());
            }
        }
        lastUpdaterState = java.util.Collections.unmodifiableMap(state);
        return new Result(spec.conf(), List.copyOf(losses), params, losses.size());
    }

    private double runStep(Schedule schedule, List<GraphStage> stages, long step, int epoch, MultiDataSet ds) {
        int n = Math.toIntExact(ds.getFeatures(0).size(0));
        int m = spec.microBatches();
        int size = n / m;
        double regularization = 0;
        for (GraphStage s : stages) {
            s.beginStep(step, epoch, size);
            regularization += s.regularizationScore();
        }
        Map<TensorId, INDArray> mailbox = new HashMap<>();
        int[] cursor = new int[schedule.devices()];
        int left = 0;
        for (int d = 0; d < schedule.devices(); d++) {
            left += schedule.actions(d).size();
        }
        while (left > 0) {
            boolean progressed = false;
            for (int d = 0; d < schedule.devices(); d++) {
                List<Action> list = schedule.actions(d);
                while (cursor[d] < list.size() && ready(list.get(cursor[d]), stages, mailbox)) {
                    run(list.get(cursor[d]), stages, mailbox, ds, size, n);
                    cursor[d]++;
                    left--;
                    progressed = true;
                }
            }
            if (!progressed) {
                Action stuck = schedule.actions(0).size() > cursor[0] ? schedule.actions(0).get(cursor[0]) : null;
                throw new IllegalStateException("step " + step + ": no device can run its next action (a tensor it needs "
                        + "is never sent)\n" + ScheduleGrid.render(schedule, stuck));
            }
        }
        if (!mailbox.isEmpty()) {
            throw new IllegalStateException("step " + step + ": tensors sent but never received: " + mailbox.keySet());
        }
        double loss = 0;
        for (GraphStage s : stages) {
            loss += s.lossSum();
        }
        return loss / m + regularization;
    }

    private boolean ready(Action a, List<GraphStage> stages, Map<TensorId, INDArray> mailbox) {
        int s = a.stage();
        GraphStageSpan span = stages.get(s).span();
        if (a.type() == ActionType.FORWARD) {
            for (String t : span.received()) {
                if (!mailbox.containsKey(new TensorId(Direction.FORWARD, a.microBatch(), s - 1, s, t))) {
                    return false;
                }
            }
        } else if (a.type() == ActionType.BACKWARD) {
            for (String t : span.sentWithGradient()) {
                if (!mailbox.containsKey(new TensorId(Direction.BACKWARD, a.microBatch(), s + 1, s, t))) {
                    return false;
                }
            }
        }
        return true;
    }

    private void run(Action a, List<GraphStage> stages, Map<TensorId, INDArray> mailbox, MultiDataSet ds, int size,
                     int miniBatchSize) {
        int s = a.stage();
        GraphStage stage = stages.get(s);
        GraphStageSpan span = stage.span();
        switch (a.type()) {
            case FORWARD -> {
                Map<String, INDArray> in = new LinkedHashMap<>();
                for (String t : span.received()) {
                    in.put(t, mailbox.remove(new TensorId(Direction.FORWARD, a.microBatch(), s - 1, s, t)));
                }
                for (String t : span.entering()) {
                    in.put(t, rows(ds.getFeatures(spec.conf().getNetworkInputs().indexOf(t)), a.microBatch(), size));
                }
                Map<String, INDArray> labels = new LinkedHashMap<>();
                for (String o : span.outputs()) {
                    labels.put(o, rows(ds.getLabels(spec.conf().getNetworkOutputs().indexOf(o)), a.microBatch(), size));
                }
                for (Map.Entry<String, INDArray> e : stage.forward(a.microBatch(), in, labels).entrySet()) {
                    mailbox.put(new TensorId(Direction.FORWARD, a.microBatch(), s, s + 1, e.getKey()), e.getValue());
                }
            }
            case BACKWARD -> {
                Map<String, INDArray> grads = new LinkedHashMap<>();
                for (String t : span.sentWithGradient()) {
                    grads.put(t, mailbox.remove(new TensorId(Direction.BACKWARD, a.microBatch(), s + 1, s, t)));
                }
                Map<String, INDArray> back = stage.backward(a.microBatch(), grads);
                if (s > 0) {
                    for (Map.Entry<String, INDArray> e : back.entrySet()) {
                        mailbox.put(new TensorId(Direction.BACKWARD, a.microBatch(), s, s - 1, e.getKey()), e.getValue());
                    }
                }
            }
            case STEP -> stage.applyUpdate(miniBatchSize);
            default -> throw new IllegalStateException("the graph pipeline runs compute schedules only (F, B, STEP), found "
                    + a);
        }
    }

    /** Rows {@code [mb * size, (mb + 1) * size)} of {@code array}, as a copy. */
    static INDArray rows(INDArray array, int microBatch, int size) {
        if (array.size(0) == size) {
            return array;
        }
        INDArrayIndex[] idx = new INDArrayIndex[array.rank()];
        idx[0] = NDArrayIndex.interval((long) microBatch * size, (long) (microBatch + 1) * size);
        for (int i = 1; i < idx.length; i++) {
            idx[i] = NDArrayIndex.all();
        }
        return array.get(idx).dup();
    }
}
