package io.sparkmp.spark;

import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * The peak of this process's resident bytes over the first steps of a task: a daemon thread reads them every
 * {@code periodMs} (&ge; 10 ms; reading {@code /proc/self/statm} costs microseconds) until {@link #stop()},
 * {@link #close()} or {@code maxSeconds} have passed, whichever is first. Each {@link #endStep()} closes a
 * window and returns that window's peak (the first window opens at construction, so it also covers building
 * the stage). A peak between two samples can be missed: a 10 ms period sees allocations that live at least
 * that long, which the model state and a micro-batch's activations do.
 */
final class PeakMemorySampler implements AutoCloseable {

    /** Steps sampled by a training task (step 0 pays warm-up and allocations, the next ones show steady state). */
    static final int SAMPLED_STEPS = 3;
    static final long DEFAULT_PERIOD_MS = 10;
    /** Sampling stops after this long even if the steps are still running (a slow first step of a big model). */
    static final long DEFAULT_MAX_SECONDS = 600;

    private final LongSupplier resident;
    private final long startBytes;
    private final Thread thread;
    private final long deadlineNanos;
    private final long periodMs;
    private long windowPeak;
    private volatile boolean running = true;

    /** Starts sampling this process with the default period and time bound. */
    static PeakMemorySampler start() {
        return new PeakMemorySampler(ProcessMemory::residentBytes, DEFAULT_PERIOD_MS, DEFAULT_MAX_SECONDS);
    }

    PeakMemorySampler(LongSupplier resident, long periodMs, long maxSeconds) {
        if (periodMs < 10) {
            throw new IllegalArgumentException("periodMs must be >= 10, found " + periodMs);
        }
        if (maxSeconds <= 0) {
            throw new IllegalArgumentException("maxSeconds must be positive, found " + maxSeconds);
        }
        this.resident = resident;
        this.periodMs = periodMs;
        this.deadlineNanos = System.nanoTime() + TimeUnit.SECONDS.toNanos(maxSeconds);
        this.startBytes = resident.getAsLong();
        this.windowPeak = startBytes;
        this.thread = new Thread(this::sample, "spark-mp memory sampler");
        thread.setDaemon(true);
        thread.start();
    }

    private void sample() {
        while (running && System.nanoTime() < deadlineNanos) {
            record(resident.getAsLong());
            try {
                Thread.sleep(periodMs);
            } catch (InterruptedException e) {
                return; // stopped
            }
        }
        running = false;
    }

    private synchronized void record(long bytes) {
        windowPeak = Math.max(windowPeak, bytes);
    }

    /** Resident bytes when sampling started. */
    long startBytes() {
        return startBytes;
    }

    /** Whether the thread still samples (false after stop, close or the time bound). */
    boolean sampling() {
        return running;
    }

    /**
     * The peak of the window that ends now (one more sample taken here), and opens the next window; -1 once
     * sampling has stopped.
     */
    synchronized long endStep() {
        if (!running) {
            return -1;
        }
        long now = resident.getAsLong();
        long peak = Math.max(windowPeak, now);
        windowPeak = now;
        return peak;
    }

    /** Stops the sampler thread and waits for it (at most one period plus a little). */
    void stop() {
        running = false;
        thread.interrupt();
        try {
            thread.join(periodMs + 1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        stop();
    }
}
