package io.sparkmp.spark;

import io.sparkmp.schedule.ScheduleKind;
import org.apache.spark.SparkConf;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
        assertEquals(2, conf.get(SparkMpConf.STAGES));
        assertFalse(conf.isSet(SparkMpConf.STAGES));
        assertEquals(30_000L, conf.get(SparkMpConf.CONNECT_TIMEOUT));
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
        assertEquals(4, SparkMpConf.of(Map.of("spark.other", "x")).get(SparkMpConf.MICRO_BATCHES));
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
