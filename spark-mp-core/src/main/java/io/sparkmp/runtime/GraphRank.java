package io.sparkmp.runtime;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

import io.sparkmp.model.GraphSlicer;
import io.sparkmp.model.GraphStage;
import io.sparkmp.model.GraphStageSpan;
import io.sparkmp.schedule.Schedule;
import io.sparkmp.schedule.Schedules;
import io.sparkmp.transport.TensorChannel;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;

/**
 * One device (Spark rank) of a graph pipeline in its own JVM: it builds only its own {@link GraphStage}s (the
 * others are never built here) and runs its actions of the compute schedule over a {@link TensorChannel}
 * ({@link GraphStageWorker}). The distributed counterpart of {@link GraphPipeline#fitOnChannels}.
 */
@io.sparkmp.Internal
public final class GraphRank {

    private final GraphPipeline.Spec spec;
    private final int device;
    private final List<GraphStage> mine = new ArrayList<>();
    private final GraphStageWorker worker;

    /**
     * @param initialOrNull starting parameters by vertex name, or null for the seed's ({@code GraphParameters})
     */
    public GraphRank(GraphPipeline.Spec spec, int device, TensorChannel channel, Map<String, INDArray> initialOrNull) {
        if (device < 0 || device >= spec.devices()) {
            throw new IllegalArgumentException("device " + device + " is out of range [0, " + spec.devices() + ")");
        }
        this.spec = spec;
        this.device = device;
        Schedule schedule = Schedules.generate(spec.kind(), spec.devices(), spec.microBatches(), spec.stagesPerDevice());
        List<GraphStageSpan> spans = GraphSlicer.slice(spec.conf(), spec.boundaries());
        List<GraphStage> stages = new ArrayList<>(Collections.nCopies(spans.size(), (GraphStage) null));
        for (GraphStageSpan span : spans) {
            if (schedule.deviceOf(span.stage()) == device) {
                GraphStage st = GraphStage.build(spec.conf(), span, spec.seed(), initialOrNull);
                stages.set(span.stage(), st);
                mine.add(st);
            }
        }
        this.worker = new GraphStageWorker(spec.conf(), schedule, device, stages, channel);
    }

    /**
     * Runs this device's actions of one optimizer step.
     *
     * @param dataOrNull the mini-batch; null is allowed only where {@link #readsData} is false
     * @param examples the mini-batch's size
     * @return this device's share of the step's loss: the step's loss (DL4J's score) is the sum over the devices
     */
    public double runStep(long step, int epoch, MultiDataSet dataOrNull, int examples) {
        return worker.runStep(step, epoch, dataOrNull, examples, spec.microBatches());
    }

    /** This device's stages, in stage order. */
    public List<GraphStage> stages() {
        return List.copyOf(mine);
    }

    /** Views of this device's parameters per vertex (keyed by topological index; see GraphLayerState). */
    public Map<Integer, List<INDArray>> parameterSegments() {
        Map<Integer, List<INDArray>> out = new TreeMap<>();
        mine.forEach(s -> out.putAll(s.parameterSegments()));
        return out;
    }

    /** Views of this device's updater state per vertex, keyed as {@link #parameterSegments()}. */
    public Map<Integer, List<INDArray>> stateSegments() {
        Map<Integer, List<INDArray>> out = new TreeMap<>();
        mine.forEach(s -> out.putAll(s.stateSegments()));
        return out;
    }

    /** Whether device {@code device}'s stages take a graph input or hold an output, i.e. need the training rows. */
    public static boolean readsData(GraphPipeline.Spec spec, int device) {
        Schedule schedule = Schedules.generate(spec.kind(), spec.devices(), spec.microBatches(), spec.stagesPerDevice());
        for (GraphStageSpan span : GraphSlicer.slice(spec.conf(), spec.boundaries())) {
            if (schedule.deviceOf(span.stage()) == device && (!span.entering().isEmpty() || !span.outputs().isEmpty())) {
                return true;
            }
        }
        return false;
    }

    /** The devices device {@code device} exchanges tensors with: those holding the stages next to its own. */
    public static SortedSet<Integer> peersOf(GraphPipeline.Spec spec, int device) {
        Schedule schedule = Schedules.generate(spec.kind(), spec.devices(), spec.microBatches(), spec.stagesPerDevice());
        int stages = spec.devices() * spec.stagesPerDevice();
        SortedSet<Integer> out = new TreeSet<>();
        for (int s = 0; s < stages; s++) {
            if (schedule.deviceOf(s) == device) {
                if (s > 0) {
                    out.add(schedule.deviceOf(s - 1));
                }
                if (s + 1 < stages) {
                    out.add(schedule.deviceOf(s + 1));
                }
            }
        }
        out.remove(device);
        return Collections.unmodifiableSortedSet(out);
    }

    public int device() {
        return device;
    }
}
