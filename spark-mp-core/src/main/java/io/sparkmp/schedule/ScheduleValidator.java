package io.sparkmp.schedule;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Checks that a schedule can run and computes every gradient exactly once. Works on compute-only
 * schedules and on schedules with communication ({@link Communication#add}).
 *
 * <p>Checks, in this order (the first failure is thrown):
 * <ol>
 *   <li>each action is on the device of its stage, with stage and micro-batch in range; split backward
 *       (I/W) is not supported yet;</li>
 *   <li>no action occurs twice;</li>
 *   <li>every stage has F and B of every micro-batch and one STEP;</li>
 *   <li>order on each device: F before B of the same micro-batch, all B (and ALLREDUCE) of a stage
 *       before its STEP, RECV before the compute that consumes it, SEND after the compute that produces
 *       it;</li>
 *   <li>if the schedule has communication: every SEND has its RECV on the neighbouring stage and vice
 *       versa, and every input that crosses devices is received;</li>
 *   <li>if the schedule has control actions ({@link ControlTraffic}): a LOAD of every micro-batch before
 *       stage 0's forward consumes it; every SEND_L has the labels on its device (its LOAD or its RECV_L)
 *       before it; on every device but 0 the labels (and masks) of a micro-batch are received before its
 *       first forward there, and before the last stage's backward reads them; one LOSS on the last stage,
 *       after all its backwards;</li>
 *   <li>no deadlock, found by running the schedule with non-blocking sends and blocking receives (without
 *       communication actions: F(s,m) waits for F(s-1,m), B(s,m) for B(s+1,m)).</li>
 * </ol>
 */
@io.sparkmp.Internal
public final class ScheduleValidator {

    private ScheduleValidator() {
    }

    /**
     * Validates {@code schedule}.
     *
     * @throws ScheduleException (an {@link IllegalStateException}) naming the first problem found, with
     *     the device x step grid and the offending action marked
     */
    public static void validate(Schedule schedule) {
        if (schedule == null) {
            throw new IllegalArgumentException("schedule must not be null");
        }
        Map<Action, int[]> at = checkPlacementAndDuplicates(schedule);
        checkComplete(schedule, at);
        checkOrder(schedule, at);
        checkCommunication(schedule, at);
        checkControl(schedule, at);
        checkNoDeadlock(schedule);
    }

    private static Map<Action, int[]> checkPlacementAndDuplicates(Schedule s) {
        Map<Action, int[]> at = new HashMap<>();
        int n = s.numStages();
        for (int d = 0; d < s.devices(); d++) {
            List<Action> l = s.actions(d);
            for (int i = 0; i < l.size(); i++) {
                Action a = l.get(i);
                int stage = a.stage();
                ActionType t = a.type();
                if (stage >= n) {
                    fail(s, d, i, a + ": stage " + stage + " out of range [0, " + n + ")");
                }
                if (s.deviceOf(stage) != d) {
                    fail(s, d, i, a + " is on device " + d + " but stage " + stage + " belongs to device "
                            + s.deviceOf(stage));
                }
                if (t.perMicroBatch() && a.microBatch() >= s.microBatches()) {
                    fail(s, d, i, a + ": micro-batch " + a.microBatch() + " out of range [0, " + s.microBatches() + ")");
                }
                if (t == ActionType.BACKWARD_INPUT || t == ActionType.BACKWARD_WEIGHT) {
                    fail(s, d, i, a + ": split backward (I/W) is not supported by this validator");
                }
                if ((t == ActionType.RECV_F || t == ActionType.SEND_B) && stage == 0) {
                    fail(s, d, i, a + ": stage 0 has no previous stage to " + (t == ActionType.RECV_F
                            ? "receive its input from" : "send an input gradient to"));
                }
                if ((t == ActionType.SEND_F || t == ActionType.RECV_B) && stage == n - 1) {
                    fail(s, d, i, a + ": the last stage (" + stage + ") has no next stage to " + (t == ActionType.SEND_F
                            ? "send its output to" : "receive an output gradient from"));
                }
                if (t == ActionType.LOAD && stage != 0) {
                    fail(s, d, i, a + ": only stage 0 loads training rows");
                }
                if (t == ActionType.LOSS && stage != n - 1) {
                    fail(s, d, i, a + ": only the last stage (" + (n - 1) + ") reduces the loss");
                }
                if (t == ActionType.SEND_L && stage == n - 1) {
                    fail(s, d, i, a + ": the last stage (" + stage + ") has no next stage to send labels to");
                }
                if (t == ActionType.RECV_L && stage == 0) {
                    fail(s, d, i, a + ": stage 0 loads its labels, it has no previous stage to receive them from");
                }
                int[] earlier = at.putIfAbsent(a, new int[] {d, i});
                if (earlier != null) {
                    fail(s, d, i, a + " occurs twice on device " + d + ": at action " + earlier[1] + " and " + i);
                }
            }
        }
        return at;
    }

    private static void checkComplete(Schedule s, Map<Action, int[]> at) {
        for (int stage = 0; stage < s.numStages(); stage++) {
            int d = s.deviceOf(stage);
            int[] step = at.get(Action.of(stage, ActionType.STEP));
            // Point at the STEP that would apply an incomplete gradient, else at the device's last action.
            int markIndex = step != null ? step[1] : s.actions(d).size() - 1;
            for (int m = 0; m < s.microBatches(); m++) {
                Action f = Action.of(stage, ActionType.FORWARD, m);
                Action b = Action.of(stage, ActionType.BACKWARD, m);
                boolean hasF = at.containsKey(f);
                boolean hasB = at.containsKey(b);
                if (!hasF && !hasB) {
                    fail(s, d, markIndex, "stage " + stage + " never runs micro-batch " + m + " (no " + f + ", no " + b
                            + ") on device " + d);
                }
                if (!hasF) {
                    fail(s, d, at.get(b)[1], "stage " + stage + " has " + b + " but no " + f + " on device " + d);
                }
                if (!hasB) {
                    fail(s, d, markIndex, "stage " + stage + " has " + f + " but no " + b + " on device " + d
                            + ": its gradient is never computed");
                }
            }
            if (step == null) {
                fail(s, d, markIndex, "stage " + stage + " has no " + Action.of(stage, ActionType.STEP)
                        + " on device " + d);
            }
        }
    }

    private static void checkOrder(Schedule s, Map<Action, int[]> at) {
        for (int d = 0; d < s.devices(); d++) {
            List<Action> l = s.actions(d);
            for (int i = 0; i < l.size(); i++) {
                Action a = l.get(i);
                int stage = a.stage();
                int m = a.microBatch();
                switch (a.type()) {
                    case BACKWARD -> requireBefore(s, at, Action.of(stage, ActionType.FORWARD, m), d, i,
                            "backward needs the forward's activations");
                    case SEND_F -> requireBefore(s, at, Action.of(stage, ActionType.FORWARD, m), d, i,
                            "it sends that forward's output");
                    case SEND_B -> requireBefore(s, at, Action.of(stage, ActionType.BACKWARD, m), d, i,
                            "it sends that backward's input gradient");
                    case RECV_F -> requireAfter(s, at, Action.of(stage, ActionType.FORWARD, m), d, i,
                            "the forward consumes what it receives");
                    case RECV_B -> requireAfter(s, at, Action.of(stage, ActionType.BACKWARD, m), d, i,
                            "the backward consumes what it receives");
                    case LOAD -> requireAfter(s, at, Action.of(stage, ActionType.FORWARD, m), d, i,
                            "the forward consumes the rows it loads");
                    case SEND_L -> requirePresentBefore(s, at, stage == 0 ? Action.of(0, ActionType.LOAD, m)
                            : Action.of(stage, ActionType.RECV_L, m), d, i, "it sends labels this device must have");
                    case LOSS -> {
                        for (int mb = 0; mb < s.microBatches(); mb++) {
                            requireBefore(s, at, Action.of(stage, ActionType.BACKWARD, mb), d, i,
                                    "the loss sums the scores of all micro-batches");
                        }
                    }
                    case ALLREDUCE -> {
                        for (int mb = 0; mb < s.microBatches(); mb++) {
                            requireBefore(s, at, Action.of(stage, ActionType.BACKWARD, mb), d, i,
                                    "it sums the gradients of all micro-batches");
                        }
                    }
                    case STEP -> {
                        for (int mb = 0; mb < s.microBatches(); mb++) {
                            requireBefore(s, at, Action.of(stage, ActionType.BACKWARD, mb), d, i,
                                    "the step applies the gradient of all micro-batches");
                        }
                        requireBefore(s, at, Action.of(stage, ActionType.ALLREDUCE), d, i,
                                "the step applies the all-reduced gradient");
                    }
                    default -> {
                    }
                }
            }
        }
    }

    /** {@code before}, when present, must come before action {@code i} of device {@code d}. */
    private static void requireBefore(Schedule s, Map<Action, int[]> at, Action before, int d, int i, String why) {
        int[] p = at.get(before);
        if (p != null && p[1] > i) {
            fail(s, d, i, s.actions(d).get(i) + " (action " + i + ") runs before " + before + " (action " + p[1]
                    + ") on device " + d + ", but " + why);
        }
    }

    /** {@code before} must be on device {@code d} and come before its action {@code i}. */
    private static void requirePresentBefore(Schedule s, Map<Action, int[]> at, Action before, int d, int i,
                                             String why) {
        int[] p = at.get(before);
        if (p == null || p[0] != d) {
            fail(s, d, i, s.actions(d).get(i) + " has no " + before + " before it on device " + d + ", but " + why);
        }
        requireBefore(s, at, before, d, i, why);
    }

    /** {@code after}, when present, must come after action {@code i} of device {@code d}. */
    private static void requireAfter(Schedule s, Map<Action, int[]> at, Action after, int d, int i, String why) {
        int[] p = at.get(after);
        if (p == null) {
            fail(s, d, i, s.actions(d).get(i) + " has no " + after + " to feed on device " + d);
        }
        if (p[1] < i) {
            fail(s, d, i, s.actions(d).get(i) + " (action " + i + ") runs after " + after + " (action " + p[1]
                    + ") on device " + d + ", but " + why);
        }
    }

    private static void checkCommunication(Schedule s, Map<Action, int[]> at) {
        boolean hasComm = at.keySet().stream().anyMatch(a -> a.type().isCommunication());
        if (!hasComm) {
            return;
        }
        int last = s.numStages() - 1;
        // Unpaired sends and receives first: a send without its receive explains the gap better than
        // the compute action that then lacks its input.
        for (int d = 0; d < s.devices(); d++) {
            List<Action> l = s.actions(d);
            for (int i = 0; i < l.size(); i++) {
                Action a = l.get(i);
                int stage = a.stage();
                int m = a.microBatch();
                Action peer = switch (a.type()) {
                    case SEND_F -> Action.of(stage + 1, ActionType.RECV_F, m);
                    case RECV_F -> Action.of(stage - 1, ActionType.SEND_F, m);
                    case SEND_B -> Action.of(stage - 1, ActionType.RECV_B, m);
                    case RECV_B -> Action.of(stage + 1, ActionType.SEND_B, m);
                    case SEND_L -> Action.of(stage + 1, ActionType.RECV_L, m);
                    case RECV_L -> Action.of(stage - 1, ActionType.SEND_L, m);
                    default -> null;
                };
                if (peer != null && !at.containsKey(peer)) {
                    fail(s, d, i, a + " has no matching " + peer + " on device " + s.deviceOf(peer.stage()));
                }
            }
        }
        // Then every input that crosses devices must be received.
        for (int d = 0; d < s.devices(); d++) {
            List<Action> l = s.actions(d);
            for (int i = 0; i < l.size(); i++) {
                Action a = l.get(i);
                int stage = a.stage();
                int m = a.microBatch();
                if (a.type() == ActionType.FORWARD && stage > 0 && s.deviceOf(stage - 1) != d
                        && !at.containsKey(Action.of(stage, ActionType.RECV_F, m))) {
                    fail(s, d, i, a + " takes its input from stage " + (stage - 1) + " on device " + s.deviceOf(stage - 1)
                            + " but no " + Action.of(stage, ActionType.RECV_F, m) + " receives it");
                }
                if (a.type() == ActionType.BACKWARD && stage < last && s.deviceOf(stage + 1) != d
                        && !at.containsKey(Action.of(stage, ActionType.RECV_B, m))) {
                    fail(s, d, i, a + " takes its output gradient from stage " + (stage + 1) + " on device "
                            + s.deviceOf(stage + 1) + " but no " + Action.of(stage, ActionType.RECV_B, m) + " receives it");
                }
            }
        }
    }

    private static void checkControl(Schedule s, Map<Action, int[]> at) {
        if (at.keySet().stream().noneMatch(a -> a.type().isControl())) {
            return;
        }
        int last = s.numStages() - 1;
        int lastDevice = s.deviceOf(last);
        for (int m = 0; m < s.microBatches(); m++) {
            Action f = Action.of(0, ActionType.FORWARD, m);
            if (!at.containsKey(Action.of(0, ActionType.LOAD, m))) {
                fail(s, 0, at.get(f)[1], f + " has no " + Action.of(0, ActionType.LOAD, m) + " to load its rows");
            }
            if (lastDevice != 0) {
                Action b = Action.of(last, ActionType.BACKWARD, m);
                int bAt = at.get(b)[1];
                if (firstIndexOf(s, lastDevice, ActionType.RECV_L, m) > bAt) {
                    fail(s, lastDevice, bAt, b + " reads the labels of micro-batch " + m + " but no RECV_L of micro-batch "
                            + m + " before it on device " + lastDevice + " receives them");
                }
            }
        }
        for (int d = 1; d < s.devices(); d++) {
            for (int m = 0; m < s.microBatches(); m++) {
                int firstF = firstIndexOf(s, d, ActionType.FORWARD, m);
                if (firstF < Integer.MAX_VALUE && firstIndexOf(s, d, ActionType.RECV_L, m) > firstF) {
                    fail(s, d, firstF, s.actions(d).get(firstF) + " is device " + d + "'s first forward of micro-batch "
                            + m + ", but no RECV_L of micro-batch " + m + " before it brings its masks and labels");
                }
            }
        }
        Action loss = Action.of(last, ActionType.LOSS);
        if (!at.containsKey(loss)) {
            int[] step = at.get(Action.of(last, ActionType.STEP));
            fail(s, lastDevice, step[1], "the last stage has no " + loss + " on device " + lastDevice
                    + ": the step's loss is never reduced");
        }
    }

    /** Index of the first action of {@code type} and micro-batch {@code m} on device {@code d}, or MAX_VALUE. */
    private static int firstIndexOf(Schedule s, int d, ActionType type, int m) {
        List<Action> l = s.actions(d);
        for (int i = 0; i < l.size(); i++) {
            if (l.get(i).type() == type && l.get(i).microBatch() == m) {
                return i;
            }
        }
        return Integer.MAX_VALUE;
    }

    private static void checkNoDeadlock(Schedule s) {
        double[][] zero = new double[s.devices()][];
        for (int d = 0; d < s.devices(); d++) {
            zero[d] = new double[s.actions(d).size()];
        }
        Replay.Outcome out = new Replay(s).run(zero, (from, to) -> 0);
        if (out.finished()) {
            return;
        }
        StringBuilder why = new StringBuilder("deadlock: no device can go on");
        for (Replay.Blocked b : out.blocked()) {
            why.append("\n  device ").append(b.device()).append(" waits at ").append(b.action())
                    .append(" (action ").append(b.index()).append(") for ").append(b.waitsFor())
                    .append(" on device ").append(s.deviceOf(b.waitsFor().stage())).append(", which has not run");
        }
        Replay.Blocked first = out.blocked().get(0);
        fail(s, first.device(), first.index(), why.toString());
    }

    private static void fail(Schedule s, int device, int index, String problem) {
        throw new ScheduleException(problem, s, device, index);
    }
}
