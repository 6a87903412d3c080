package io.sparkmp.runtime;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.IntConsumer;

/**
 * Runs one body per rank, each on its own daemon thread, in one JVM, and waits for all. When a rank fails its
 * failure is recorded first, then {@code stopAll} runs (closing the channels, so the other ranks stop at their
 * next receive), then the rank's own {@code finish}; the first failure is rethrown with the later ones (caused by
 * the stopping) attached as suppressed.
 */
final class RankThreads {

    /** What one rank runs. */
    interface Body {
        void run(int rank) throws Exception;
    }

    private RankThreads() {
    }

    /**
     * @param threadName prefix of the threads' names (the rank is appended)
     * @param finish per rank, after its body (e.g. closing its channel end)
     * @param what what is waited for, in the message when the waiting thread is interrupted
     */
    static void run(String threadName, int ranks, Body body, IntConsumer finish, Runnable stopAll, String what) {
        AtomicReference<Throwable> first = new AtomicReference<>();
        List<Throwable> later = Collections.synchronizedList(new ArrayList<>());
        List<Thread> threads = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            final int rank = r;
            Thread t = new Thread(() -> {
                // The failure is recorded before this rank's finish (its channel closing), or a rank that then fails
                // on the closed channel could be reported first.
                try {
                    body.run(rank);
                } catch (Throwable ex) {
                    if (!first.compareAndSet(null, ex)) {
                        later.add(ex);
                    }
                    stopAll.run();
                } finally {
                    finish.accept(rank);
                }
            }, threadName + rank);
            t.setDaemon(true);
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            try {
                t.join();
            } catch (InterruptedException e) {
                stopAll.run();
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for " + what, e);
            }
        }
        Throwable error = first.get();
        if (error != null) {
            later.forEach(error::addSuppressed);
            if (error instanceof RuntimeException re) {
                throw re;
            }
            if (error instanceof Error err) {
                throw err;
            }
            throw new IllegalStateException(error);
        }
    }
}
