package io.sparkmp.plan;

import java.io.Serializable;
import java.util.Locale;

/**
 * The runtime's fixed costs beyond layer compute, measured where the model trains (the profiling job), for the
 * simulator: what a message costs its sender and how long it takes to arrive, what loading a micro-batch costs
 * stage 0, and what a step costs each device beyond its actions. All in seconds, finite and {@code >= 0}.
 *
 * @param sendSeconds sender's time per message (the SEND action), fixed part
 * @param sendSecondsPerByte sender's time per byte of a message
 * @param latencySeconds from the end of a SEND until its RECV can return, fixed part
 * @param latencySecondsPerByte the same, per byte
 * @param loadSeconds the LOAD action, fixed part per micro-batch
 * @param loadSecondsPerExample the LOAD action, per example of the micro-batch
 * @param stepSeconds per step and device beyond its actions (step start, header, metrics), charged to its STEP
 */
public record RuntimeCosts(double sendSeconds, double sendSecondsPerByte, double latencySeconds,
                           double latencySecondsPerByte, double loadSeconds, double loadSecondsPerExample,
                           double stepSeconds) implements Serializable {

    private static final long serialVersionUID = 1L;

    /** Not measured: the simulator charges the plan's bandwidth and latency only (analytic profiles, tests). */
    public static final RuntimeCosts NONE = new RuntimeCosts(0, 0, 0, 0, 0, 0, 0);

    public RuntimeCosts {
        double[] all = {sendSeconds, sendSecondsPerByte, latencySeconds, latencySecondsPerByte, loadSeconds,
            loadSecondsPerExample, stepSeconds};
        String[] names = {"sendSeconds", "sendSecondsPerByte", "latencySeconds", "latencySecondsPerByte",
            "loadSeconds", "loadSecondsPerExample", "stepSeconds"};
        for (int i = 0; i < all.length; i++) {
            if (!(all[i] >= 0) || Double.isInfinite(all[i])) {
                throw new IllegalArgumentException(names[i] + " must be finite and >= 0, found " + all[i]);
            }
        }
    }

    /** Whether these are measured costs rather than {@link #NONE}. */
    public boolean measured() {
        return !equals(NONE);
    }

    /** Sender's time for a message of {@code bytes}. */
    public double send(long bytes) {
        return sendSeconds + bytes * sendSecondsPerByte;
    }

    /** Time from a send's end until a message of {@code bytes} can be received. */
    public double latency(long bytes) {
        return latencySeconds + bytes * latencySecondsPerByte;
    }

    /** The LOAD of one micro-batch of {@code examples}. */
    public double load(int examples) {
        return loadSeconds + examples * loadSecondsPerExample;
    }

    /** One text line: {@code send=... latency=... load=... step=...}; {@link #parse} reads it back. */
    public String format() {
        return String.format(Locale.ROOT, "%.17g %.17g %.17g %.17g %.17g %.17g %.17g", sendSeconds, sendSecondsPerByte,
                latencySeconds, latencySecondsPerByte, loadSeconds, loadSecondsPerExample, stepSeconds);
    }

    /**
     * Reads {@link #format()}'s line.
     *
     * @throws IllegalArgumentException unless it holds seven numbers
     */
    public static RuntimeCosts parse(String line) {
        String[] f = line == null ? new String[0] : line.trim().split("\\s+");
        if (f.length != 7) {
            throw new IllegalArgumentException("runtime costs need 7 numbers, found '" + line + "'");
        }
        double[] v = new double[7];
        for (int i = 0; i < 7; i++) {
            v[i] = Double.parseDouble(f[i]);
        }
        return new RuntimeCosts(v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "message: send %.1f us + %.3f ns/B, latency %.1f us + %.3f ns/B; LOAD %.1f us"
                        + " + %.2f us/example; step %.1f us", sendSeconds * 1e6, sendSecondsPerByte * 1e9,
                latencySeconds * 1e6, latencySecondsPerByte * 1e9, loadSeconds * 1e6, loadSecondsPerExample * 1e6,
                stepSeconds * 1e6);
    }
}
