package io.sparkmp.transport;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An idle link must cost (almost) no CPU: on 2 cores every wake-up of a transport thread is taken from the
 * stages' compute. Two linked ranks, each with a receiver blocked on a frame that does not come (the usual
 * state of a pipeline stage waiting for its activation), are watched for 2 s.
 */
class IdleLinkTest {
    private static final long WINDOW_MILLIS = 2000;
    /**
     * CPU all transport threads and both receivers may use in the window. The reader threads that looked at
     * the read token every 1 ms used 92 ms (3392 context switches) here; now it is 0 ms (0 switches).
     */
    private static final long MAX_CPU_NANOS = 5_000_000;

    @Test
    void idleLinkedChannelUsesAlmostNoCpu() throws Exception {
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        assertTrue(mx.isThreadCpuTimeSupported(), "this JVM cannot measure thread CPU time");
        mx.setThreadCpuTimeEnabled(true);
        // idleTimeout 60 s: heartbeats every 15 s, so none is due in the window.
        TransportConfig config = Loopback.builder("idle").connectTimeout(Duration.ofSeconds(10))
                .receiveTimeout(Duration.ofSeconds(30)).sendTimeout(Duration.ofSeconds(10))
                .idleTimeout(Duration.ofSeconds(60)).closeTimeout(Duration.ofSeconds(2)).build();
        List<SocketTensorChannel> chans = Loopback.mesh(2, config);
        List<Thread> receivers = new ArrayList<>();
        CountDownLatch done = new CountDownLatch(2);
        try {
            for (int r = 0; r < 2; r++) {
                SocketTensorChannel c = chans.get(r);
                int peer = 1 - r;
                Thread t = new Thread(() -> {
                    try {
                        c.receive(peer, Loopback.key(99, peer));
                    } catch (TransportException expected) {
                        // the channel closes under it at the end of the test
                    } finally {
                        done.countDown();
                    }
                }, "idle-receiver-" + r);
                t.setDaemon(true);
                receivers.add(t);
                t.start();
            }
            Thread.sleep(300); // receivers settle: one holds each read token, the reader threads wait

            List<Thread> watched = new ArrayList<>(receivers);
            for (Thread t : Thread.getAllStackTraces().keySet()) {
                if (t.getName().startsWith("sparkmp-transport-")) {
                    watched.add(t);
                }
            }
            long[] cpuBefore = cpu(mx, watched);
            long switchesBefore = contextSwitches();
            Thread.sleep(WINDOW_MILLIS);
            long[] cpuAfter = cpu(mx, watched);
            long switchesAfter = contextSwitches();

            long total = 0;
            StringBuilder perThread = new StringBuilder();
            for (int i = 0; i < watched.size(); i++) {
                long used = Math.max(0, cpuAfter[i] - cpuBefore[i]);
                total += used;
                perThread.append(String.format("%n  %-34s %8.3f ms", watched.get(i).getName(), used / 1e6));
            }
            String wakeUps = switchesBefore < 0 ? "n/a (no /proc)" : String.valueOf(switchesAfter - switchesBefore);
            System.out.printf("idle link, %d ms, %d threads: CPU %.3f ms in all, wake-ups (context switches) %s%s%n",
                    WINDOW_MILLIS, watched.size(), total / 1e6, wakeUps, perThread);
            assertTrue(total < MAX_CPU_NANOS, String.format("an idle link used %.3f ms of CPU in %d ms (bound %.1f ms)"
                    + " on its transport threads and waiting receivers:%s", total / 1e6, WINDOW_MILLIS,
                    MAX_CPU_NANOS / 1e6, perThread));
        } finally {
            Loopback.closeAll(chans);
            done.await();
        }
    }

    private static long[] cpu(ThreadMXBean mx, List<Thread> threads) {
        long[] out = new long[threads.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = mx.getThreadCpuTime(threads.get(i).getId());
        }
        return out;
    }

    /**
     * Context switches of the watched threads (Linux names a thread by its first 15 characters), or -1
     * where {@code /proc} is missing.
     */
    private static long contextSwitches() throws IOException {
        Path tasks = Path.of("/proc/self/task");
        if (!Files.isDirectory(tasks)) {
            return -1;
        }
        long sum = 0;
        try (Stream<Path> all = Files.list(tasks)) {
            for (Path t : (Iterable<Path>) all::iterator) {
                try {
                    String comm = Files.readString(t.resolve("comm")).trim();
                    if (!comm.startsWith("sparkmp-transpo") && !comm.startsWith("idle-receiver")) {
                        continue;
                    }
                    for (String line : Files.readAllLines(t.resolve("status"))) {
                        if (line.startsWith("voluntary_ctxt_switches") || line.startsWith("nonvoluntary_ctxt_switches")) {
                            sum += Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
                        }
                    }
                } catch (IOException gone) {
                    // the thread ended meanwhile
                }
            }
        }
        return sum;
    }
}
