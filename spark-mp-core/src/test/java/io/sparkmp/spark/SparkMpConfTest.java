package io.sparkmp.spark;

import io.sparkmp.schedule.ScheduleKind;
import org.apache.spark.SparkConf;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SparkMpConfTest {

    @Test
    void readsTypedValuesFromSparkConfAndFallsBackToDefaults() {
        SparkConf sc = new SparkConf(false)
                .set("spark.mp.microBatches", "8")
                .set("spark.mp.schedule", "GPipe")
                .set("spark.mp.transport.ioTimeout", "2min")
                .set("spark.mp.device.memory", "2g")
                .set("spark.mp.shuffle", "TRUE")
                .set("spark.executor.memory", "1g");
        SparkMpConf conf = SparkMpConf.from(sc);
        assertEquals(8, conf.get(SparkMpConf.MICRO_BATCHES));
        assertEquals(ScheduleKind.GPIPE, conf.get(SparkMpConf.SCHEDULE));
        assertEquals(120_000L, conf.get(SparkMpConf.IO_TIMEOUT));
        assertEquals(2L << 30, conf.get(SparkMpConf.DEVICE_MEMORY));
        assertTrue(conf.get(SparkMpConf.SHUFFLE));
        assertNull(conf.get(SparkMpConf.STAGES), "unset stages: the planner's choice, no fixed default");
        assertFalse(conf.isSet(SparkMpConf.STAGES));
        assertEquals(30_000L, conf.get(SparkMpConf.CONNECT_TIMEOUT));
    }

    @Test
    void hostSlowdownIsOneByDefaultAutoOrANumberOfAtLeastOne() {
        assertEquals(1.0, SparkMpConf.of(Map.of()).get(SparkMpConf.PLAN_HOST_SLOWDOWN));
        assertTrue(SparkMpConf.of(Map.of("spark.mp.plan.hostSlowdown", "auto")).get(SparkMpConf.PLAN_HOST_SLOWDOWN)
                .isNaN(), "auto: measured");
        assertEquals(1.4, SparkMpConf.of(Map.of("spark.mp.plan.hostSlowdown", "1.4")).get(SparkMpConf.PLAN_HOST_SLOWDOWN));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SparkMpConf.of(Map.of("spark.mp.plan.hostSlowdown", "0.8")));
        assertTrue(e.getMessage().contains("spark.mp.plan.hostSlowdown") && e.getMessage().contains("0.8"),
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SparkMpConf.of(Map.of("spark.mp.plan.hostSlowdown",
                "often")));
        assertTrue(e.getMessage().contains("often"), e.getMessage());
    }

    @Test
    void badTypeNamesKeyAndText() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SparkMpConf.of(Map.of("spark.mp.microBatches", "x")));
        assertEquals("`spark.mp.microBatches` should be int, but was `x`", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SparkMpConf.of(Map.of("spark.mp.shuffle", "yes")));
        assertEquals("`spark.mp.shuffle` should be boolean, but was `yes`", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SparkMpConf.of(Map.of("spark.mp.schedule", "zb")));
        assertEquals("`spark.mp.schedule` should be schedule (gpipe|1f1b|interleaved), but was `zb`", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SparkMpConf.of(Map.of("spark.mp.nonFinite", "ignore")));
        assertEquals("`spark.mp.nonFinite` should be fail|skip, but was `ignore`", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SparkMpConf.of(Map.of("spark.mp.barrier.timeout", "soon")));
        assertTrue(e.getMessage().startsWith("`spark.mp.barrier.timeout` should be duration"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SparkMpConf.of(Map.of("spark.mp.barrier.timeout", "0s")));
        assertEquals("`spark.mp.barrier.timeout` must be > 0, but was `0`", e.getMessage());
        SparkMpConf ok = SparkMpConf.of(Map.of("spark.mp.nonFinite", "SKIP", "spark.mp.barrier.timeout", "90s"));
        assertEquals(io.sparkmp.runtime.NonFinitePolicy.SKIP, ok.get(SparkMpConf.NON_FINITE));
        assertEquals(90_000L, ok.get(SparkMpConf.BARRIER_TIMEOUT));
        assertEquals(io.sparkmp.runtime.NonFinitePolicy.FAIL, SparkMpConf.of(Map.of()).get(SparkMpConf.NON_FINITE));
        assertEquals(600_000L, SparkMpConf.of(Map.of()).get(SparkMpConf.BARRIER_TIMEOUT));
    }

    @Test
    void theBuilderChecksTheFaultToleranceSettings() {
        PipelineTrainer.Builder b = PipelineTrainer.builder(new org.deeplearning4j.nn.conf.NeuralNetConfiguration.Builder()
                .list().layer(new org.deeplearning4j.nn.conf.layers.OutputLayer.Builder().nIn(2).nOut(2).build()).build());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.nonFinite(null));
        assertEquals("nonFinite must not be null", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> b.barrierTimeout(java.time.Duration.ZERO));
        assertEquals("barrierTimeout must be positive, found PT0S", e.getMessage());
        b.nonFinite(io.sparkmp.runtime.NonFinitePolicy.SKIP);
        IllegalStateException twice = assertThrows(IllegalStateException.class,
                () -> b.nonFinite(io.sparkmp.runtime.NonFinitePolicy.FAIL));
        assertEquals("nonFinite was already set to SKIP", twice.getMessage());
    }

    @Test
    void failedCheckNamesKeyRuleAndValue() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SparkMpConf.of(Map.of("spark.mp.stages", "0")));
        assertEquals("`spark.mp.stages` must be >= 1, but was `0`", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SparkMpConf.BATCH_SIZE.validate(-3));
        assertEquals("`spark.mp.batchSize` must be >= 1, but was `-3`", e.getMessage());
    }

    @Test
    void unknownKeyIsRejectedAndOtherPrefixesIgnored() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SparkMpConf.of(Map.of("spark.mp.microbatches", "4")));
        assertTrue(e.getMessage().startsWith("unknown setting `spark.mp.microbatches`"), e.getMessage());
        assertTrue(e.getMessage().contains("spark.mp.microBatches"), e.getMessage());
        assertFalse(SparkMpConf.of(Map.of("spark.other", "x")).isSet(SparkMpConf.MICRO_BATCHES));
    }

    @Test
    void settingsResolveCodeOverConfOverTheDocumentedDefault() {
        SparkMpConf conf = SparkMpConf.of(Map.of("spark.mp.batchSize", "20", "spark.mp.epochs", "3"));
        TrainingSettings s = TrainingSettings.of(Map.of(SparkMpConf.EPOCHS, 5), conf);
        assertEquals(20, s.get(SparkMpConf.BATCH_SIZE), "conf over default");
        assertEquals(5, s.get(SparkMpConf.EPOCHS), "code over conf");
        assertEquals(42L, s.get(SparkMpConf.SEED), "default");
        assertNull(s.given(SparkMpConf.STAGES), "left to the planner");
        // Every documented default is the value that applies when nothing is given.
        TrainingSettings none = TrainingSettings.of(Map.of(), SparkMpConf.of(Map.of()));
        String table = SparkMpConf.describe();
        for (ConfEntry<?> e : SparkMpConf.entries()) {
            assertEquals(e.defaultValue(), none.get(e), e.key());
            assertTrue(table.contains("| `" + e.key() + "` | " + e.typeName() + " | `" + e.defaultText() + "` |"), e.key());
        }
        for (ConfEntry<?> planned : List.of(SparkMpConf.STAGES, SparkMpConf.MICRO_BATCHES,
                SparkMpConf.STAGES_PER_DEVICE, SparkMpConf.SCHEDULE)) {
            assertNull(planned.defaultValue(), planned.key());
            assertEquals("(planner)", planned.defaultText(), planned.key());
        }
    }

    @Test
    void everyKeyIsDeclaredOnceAndDocumented() {
        Set<String> keys = new HashSet<>();
        for (ConfEntry<?> e : SparkMpConf.entries()) {
            assertTrue(keys.add(e.key()), e.key());
            assertTrue(e.key().startsWith("spark.mp."), e.key());
            assertFalse(e.doc().isBlank(), e.key());
            assertTrue(SparkMpConf.describe().contains("`" + e.key() + "`"), e.key());
        }
        assertTrue(keys.size() >= 15, keys.toString());
    }

    @Test
    void passwordsAreNotPrinted() {
        SparkMpConf conf = SparkMpConf.of(Map.of("spark.mp.transport.tls.keyStorePassword", "hunter2"));
        assertFalse(conf.toString().contains("hunter2"), conf.toString());
    }
}
