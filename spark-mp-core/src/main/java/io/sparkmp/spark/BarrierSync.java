package io.sparkmp.spark;

import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;

import org.apache.spark.BarrierTaskContext;

/**
 * A task's barrier {@code allGather} calls with a timeout ({@code spark.mp.barrier.timeout}); Spark's own
 * ({@code spark.barrier.sync.timeout}) is 365 days, so a stuck or dead peer would otherwise hold every other
 * rank forever. Each call is numbered and named; before waiting, the rank reports its arrival at that call
 * through the progress accumulator, so the driver ({@link ProgressListener}) can name the ranks that did not
 * arrive when a rank times out.
 *
 * <p>The gather runs on a helper thread while the task thread waits at most the timeout. On a timeout the task
 * thread throws {@link BarrierTimeoutException}; the helper, still inside Spark's gather, is released a few
 * seconds later (once the executor has reported the failure) by marking the ended task interrupted, which makes
 * Spark's gather loop abort its request.
 */
final class BarrierSync {

    /** How long after a timeout the helper thread is released (the executor reports the failure before). */
    static final long RELEASE_DELAY_MS = 3_000;

    private final BarrierTaskContext ctx;
    private final ProgressAccumulator progress;
    private final int rank;
    private final int attempt;
    private final long timeoutMs;
    private int calls;

    BarrierSync(BarrierTaskContext ctx, ProgressAccumulator progress, int rank, int attempt, long timeoutMs) {
        if (timeoutMs <= 0) {
            throw new IllegalArgumentException("barrier timeout must be positive, found " + timeoutMs + " ms");
        }
        this.ctx = ctx;
        this.progress = progress;
        this.rank = rank;
        this.attempt = attempt;
        this.timeoutMs = timeoutMs;
    }

    /**
     * Spark's {@code allGather} of {@code message}, named {@code name} in errors; every rank must make the same
     * calls in the same order.
     *
     * @throws BarrierTimeoutException when not every rank arrived within the timeout
     */
    String[] allGather(String name, String message) {
        int call = calls++;
        progress.add(RankStep.arrival(rank, attempt, call));
        return timed(() -> ctx.allGather(message), call, name, rank, timeoutMs,
                () -> ctx.markInterrupted("spark-mp: barrier call " + call + " (" + name + ") timed out"));
    }

    /**
     * Runs {@code gather} on a helper thread and waits at most {@code timeoutMs} for it.
     *
     * @param release ends a gather still waiting after a timeout; run {@link #RELEASE_DELAY_MS} later
     */
    static String[] timed(Supplier<String[]> gather, int call, String name, int rank, long timeoutMs, Runnable release) {
        FutureTask<String[]> task = new FutureTask<>(gather::get);
        Thread helper = new Thread(task, "spark-mp-barrier-rank-" + rank + "-call-" + call);
        helper.setDaemon(true);
        long t0 = System.nanoTime();
        helper.start();
        try {
            return task.get(timeoutMs, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            Thread releaser = new Thread(() -> {
                try {
                    Thread.sleep(RELEASE_DELAY_MS);
                } catch (InterruptedException ignored) {
                    Thread.currentThread().interrupt();
                }
                release.run();
            }, "spark-mp-barrier-release-" + rank + "-" + call);
            releaser.setDaemon(true);
            releaser.start();
            throw new BarrierTimeoutException(call, name, rank, (System.nanoTime() - t0) / 1_000_000, timeoutMs);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof RuntimeException re) {
                throw re;
            }
            if (cause instanceof Error err) {
                throw err;
            }
            throw new IllegalStateException("barrier call " + call + " (" + name + ") failed: " + cause, cause);
        } catch (InterruptedException e) {
            // The task is being killed: Spark has marked it, so its gather on the helper ends by itself.
            Thread.currentThread().interrupt();
            throw new IllegalStateException("rank " + rank + " was interrupted in barrier call " + call + " (" + name
                    + ")", e);
        }
    }

    /** Not every rank arrived at a barrier call within {@code spark.mp.barrier.timeout}. */
    static final class BarrierTimeoutException extends IllegalStateException {
        private static final long serialVersionUID = 1L;
        /** Starts every message; the driver's {@link ProgressListener} looks for it. */
        static final String MARK = "barrier timeout: ";

        final int call;

        BarrierTimeoutException(int call, String name, int rank, long waitedMs, long timeoutMs) {
            super(MARK + "rank " + rank + " waited " + waitedMs + " ms at barrier call " + call + " (allGather, " + name
                    + ") and not every rank arrived within spark.mp.barrier.timeout (" + timeoutMs + " ms)");
            this.call = call;
        }
    }
}
