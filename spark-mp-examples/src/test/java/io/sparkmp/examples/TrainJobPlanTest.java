package io.sparkmp.examples;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** TrainJob's planner flags: --dry-run prints the plan and trains nothing; --boundaries fixes the split. */
class TrainJobPlanTest {

    @Test
    void dryRunPrintsThePlanWithAManualSplitAndWritesNothing(@TempDir Path dir) throws Exception {
        TrainJobTest.start();
        try {
            Path out = dir.resolve("m.zip");
            TrainJobTest.Outcome o = TrainJobTest.run(dryRun(out, "0,1,4"));
            assertEquals(0, o.code(), o.err());
            assertTrue(o.out().startsWith("Pipeline plan: 4 layers -> 2 stages on 2 devices"), o.out());
            // replicas auto (the default) on local[2] with two stages: no slot left for a second replica
            assertTrue(o.out().contains("\nreplicas: R = 1: P = 2 leaves no executor for a second replica (executors 2)\n"),
                    o.out());
            assertTrue(o.out().contains("    0    0 0..0  "), o.out());
            assertTrue(o.out().contains("    1    1 1..3  "), o.out());
            assertFalse(o.out().contains("trained "), "a dry run must not train: " + o.out());
            assertFalse(Files.exists(out), "a dry run writes no model");

            TrainJobTest.Outcome bad = TrainJobTest.run(dryRun(out, "0,2,2,4"));
            TrainJobTest.assertOneLineError(bad, "boundaries [0, 2, 2, 4]: must be strictly increasing", out);
            TrainJobTest.Outcome notNumbers = TrainJobTest.run(TrainJobTest.args(out, "--boundaries", "0,a"));
            TrainJobTest.assertOneLineError(notNumbers,
                    "--boundaries should be comma-separated layer indices like 0,2,5, but was `0,a`", out);
        } finally {
            TrainJobTest.stop();
        }
    }

    @Test
    void replicasAutoOrANumberAndTheDryRunSaysWhichRAndWhy(@TempDir Path dir) throws Exception {
        TrainJobTest.start();
        try {
            Path out = dir.resolve("m.zip");
            TrainJobTest.Outcome auto = TrainJobTest.run(withDryRun(TrainJobTest.args(out, "--stages", "1",
                    "--replicas", "auto")));
            assertEquals(0, auto.code(), auto.err());
            // local[2], one stage: R is the planner's (1 or 2, by the measured times), and the plan says why
            assertTrue(auto.out().matches("(?s).*\nreplicas: R = [12] chosen by predicted step \\([0-9.]+ ms\\) over "
                    + "R = [12] .*"), auto.out());
            TrainJobTest.Outcome one = TrainJobTest.run(withDryRun(TrainJobTest.args(out, "--stages", "1",
                    "--replicas", "1")));
            assertEquals(0, one.code(), one.err());
            assertTrue(one.out().contains("\nreplicas: R = 1 given\n"), one.out());
            assertTrue(one.out().startsWith("Pipeline plan: 4 layers -> 1 stage on 1 device (v=1) x 1 replica = 1 "
                    + "executors"), one.out());
            assertFalse(Files.exists(out), "a dry run writes no model");
        } finally {
            TrainJobTest.stop();
        }
    }

    private static String[] withDryRun(String[] a) {
        String[] b = java.util.Arrays.copyOf(a, a.length + 1);
        b[a.length] = "--dry-run";
        return b;
    }

    /** The common flags (two stages) with a manual split and --dry-run, which takes no value. */
    private static String[] dryRun(Path out, String boundaries) {
        String[] a = TrainJobTest.args(out, "--boundaries", boundaries);
        String[] b = java.util.Arrays.copyOf(a, a.length + 1);
        b[a.length] = "--dry-run";
        return b;
    }
}
