package io.sparkmp.bench;

import io.sparkmp.plan.LayerProfile;
import io.sparkmp.plan.ModelProfile;
import io.sparkmp.plan.PipelinePlan;
import io.sparkmp.plan.PipelinePlanner;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Planning time of {@link PipelinePlanner} for layer counts x device counts (the planner chooses stages,
 * replicas, micro-batches and schedule). Prints a table: median and max wall time of repeated plans after
 * warm-up, the median CPU time of the planning thread (less sensitive to a busy machine), and the plan
 * chosen. Run:
 * <pre>
 * mvn -B -q -o -pl spark-mp-examples -am compile -DskipTests
 * java -cp spark-mp-core/target/classes:spark-mp-examples/target/classes io.sparkmp.bench.PlannerBenchmark
 * </pre>
 */
public final class PlannerBenchmark {

    private PlannerBenchmark() {
    }

    /**
     * A transformer-like stack, seeded: per layer 8-40 M parameters (FLOAT, Adam), 16-64 KiB activations per
     * example, analytic times (2 FLOPs per parameter per example at 1 TFLOP/s).
     */
    static ModelProfile model(int layers, long seed) {
        Random rnd = new Random(seed);
        List<LayerProfile> l = new ArrayList<>(layers);
        for (int i = 0; i < layers; i++) {
            long params = 8_000_000L + rnd.nextInt(32_000_000);
            long out = (16 + rnd.nextInt(48)) * 1024L;
            double flops = 2.0 * params;
            l.add(LayerProfile.analytic("layer" + i, "Dense", params, 4, 2, out / 4, out / 4, flops, 1e12));
        }
        return ModelProfile.of(l, 16 * 1024);
    }

    public static void main(String[] args) {
        int[][] sizes = {{10, 8}, {100, 64}, {1000, 64}, {1000, 256}, {1000, 1024}, {2000, 1024}};
        int repeats = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        System.out.printf(Locale.ROOT, "%7s %8s %6s %10s %10s %10s   %s%n", "layers", "devices", "batch",
                "median ms", "max ms", "cpu ms", "plan chosen");
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        for (int[] sz : sizes) {
            ModelProfile m = model(sz[0], 42);
            int batch = 1024;
            // 16 GiB per device: 1000 layers (~24 M parameters, ~384 MB with gradients and Adam, each) need
            // at least 24 devices, so the planner must split.
            long budget = 16L << 30;
            PipelinePlan plan = null;
            long[] ns = new long[repeats];
            long[] cpu = new long[repeats];
            for (int w = 0; w < 2; w++) {
                plan = plan(m, sz[1], budget, batch);
            }
            for (int r = 0; r < repeats; r++) {
                long c0 = mx.getCurrentThreadCpuTime();
                long t0 = System.nanoTime();
                plan = plan(m, sz[1], budget, batch);
                ns[r] = System.nanoTime() - t0;
                cpu[r] = mx.getCurrentThreadCpuTime() - c0;
            }
            Arrays.sort(ns);
            Arrays.sort(cpu);
            System.out.printf(Locale.ROOT, "%7d %8d %6d %10.1f %10.1f %10.1f   %s%n", sz[0], sz[1], batch,
                    ns[repeats / 2] / 1e6, ns[repeats - 1] / 1e6, cpu[repeats / 2] / 1e6, summary(plan));
        }
    }

    private static PipelinePlan plan(ModelProfile m, int devices, long budget, int batch) {
        return PipelinePlanner.builder().profile(m).executors(devices).deviceMemoryBytes(budget)
                .bandwidthBytesPerSecond(10e9).batchSize(batch).build().plan();
    }

    private static String summary(PipelinePlan p) {
        return String.format(Locale.ROOT, "%s P=%d v=%d R=%d M=%d step %.1f ms, bubble %.1f%%; %d candidates, %d partitioned",
                p.schedule().label(),
                p.devices(), p.stagesPerDevice(), p.replicas(), p.microBatches(), 1e3 * p.predictedStepSeconds(),
                100 * p.bubbleFraction(), p.candidatesConsidered(), p.partitionsSolved());
    }
}
