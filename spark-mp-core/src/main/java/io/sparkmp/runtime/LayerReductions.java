package io.sparkmp.runtime;

import io.sparkmp.transport.RingAllReduce;
import io.sparkmp.transport.TransportException;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One step's per-layer gradient all-reduces across the replicas, overlapped with the backward that is still
 * running: a stage hands over each layer's gradient as soon as that layer's last backward of the step is done
 * ({@link io.sparkmp.model.StageSlice#reduceEachLayerWhenDone}), and one thread of this step sums them over the
 * ring, one after the other, in the order they were handed over, while the rank's own thread goes on with the
 * layers below. The ALLREDUCE action of a stage then only waits for that stage's sums ({@link #await}).
 *
 * <p>Every replica of a device runs the same schedule, so its layers are handed over in the same order, and a
 * single thread per rank takes them in that order: the ring's collectives line up without any agreement. Each
 * layer's sum is the ring's fixed order over that layer's elements, so the result does not depend on timing.
 * A layer's tag is {@code firstTag + global layer index}, past the stage tags and the loss tag.
 *
 * <p>The thread exists only while the step has sums to run ({@link #close} ends it); a failed sum surfaces at
 * the {@link #await} of its stage, naming the layer.
 */
final class LayerReductions implements AutoCloseable {
    private final RingAllReduce ring;
    private final long step;
    private final int firstTag;
    private final Duration timeout;
    private final Map<Integer, List<Pending>> byStage = new HashMap<>();
    private ExecutorService thread;

    private record Pending(int layer, Future<?> done) {
    }

    LayerReductions(RingAllReduce ring, long step, int firstTag, Duration timeout) {
        this.ring = ring;
        this.step = step;
        this.firstTag = firstTag;
        this.timeout = timeout;
    }

    /** Starts summing {@code gradient} (layer {@code layer}'s whole step gradient, a contiguous view) in place. */
    void start(int stage, int layer, INDArray gradient) {
        if (thread == null) {
            thread = Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "sparkmp-allreduce-step-" + step);
                t.setDaemon(true);
                return t;
            });
        }
        Future<?> f = thread.submit(() -> ring.sumInPlace(gradient, step, firstTag + layer));
        byStage.computeIfAbsent(stage, k -> new ArrayList<>()).add(new Pending(layer, f));
    }

    /** Whether any layer of {@code stage} was handed over this step. */
    boolean started(int stage) {
        return byStage.containsKey(stage);
    }

    /**
     * Waits until every sum of {@code stage} started this step is done (each at most the timeout).
     *
     * @throws TransportException naming the layer whose sum failed or did not finish in time
     */
    void await(int stage) {
        for (Pending p : byStage.getOrDefault(stage, List.of())) {
            try {
                p.done().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                throw new TransportException("the all-reduce of layer " + p.layer() + " (stage " + stage + ", step " + step
                        + ") across the replicas did not finish within " + timeout.toMillis() + " ms", e);
            } catch (ExecutionException e) {
                Throwable c = e.getCause();
                throw new TransportException("the all-reduce of layer " + p.layer() + " (stage " + stage + ", step "
                        + step + ") across the replicas failed: " + c.getMessage(), c);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new TransportException("interrupted while waiting for the all-reduce of layer " + p.layer()
                        + " (stage " + stage + ", step " + step + ")", e);
            }
        }
    }

    /** Ends the step's thread once its queued sums are done (at once, when the step failed). */
    @Override
    public void close() {
        if (thread != null) {
            thread.shutdownNow();
            thread = null;
        }
    }
}
