package io.sparkmp.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.util.List;

import org.junit.jupiter.api.Test;

class ModelProfileTest {

    private static ModelProfile sample() {
        return new ModelProfile(List.of(
                new LayerProfile("conv \"1\"", "ConvolutionLayer", 260, 1040, 1040, 2080, 43264, 3136, 50000, 1.3e5,
                        1.5e-5, 2.25e-6, 3e-5, 4.1e-6),
                new LayerProfile("out\n", "OutputLayer", 1000010, 4000040, 4000040, 8000080, 40, 43264, 80, 2.0e6,
                        0, 1.0 / 3, 0, 2.0 / 3)),
                3136, "FLOAT", "Adam", ModelProfile.TimeSource.MEASURED, 16, "abc123");
    }

    @Test
    void jsonRoundTripGivesAnEqualProfile() {
        ModelProfile p = sample();
        String json = p.toJson();
        assertEquals(p, ModelProfile.fromJson(json));
        assertTrue(json.contains("\"name\":\"conv \\\"1\\\"\""), json);
    }

    @Test
    void javaSerializationRoundTrip() throws Exception {
        ModelProfile p = sample();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(p);
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            assertEquals(p, in.readObject());
        }
    }

    @Test
    void malformedJsonSaysWhere() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ModelProfile.fromJson("{\"layers\": [}"));
        assertTrue(e.getMessage().startsWith("malformed profile JSON at character"), e.getMessage());
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> ModelProfile.fromJson("{\"layers\": []}"));
        assertTrue(missing.getMessage().contains("lacks field"), missing.getMessage());
    }

    @Test
    void cacheKeyDependsOnModelAndHardware() {
        String k = ModelProfile.cacheKey("{model}", "cpu x86_64 2 cores");
        assertEquals(64, k.length());
        assertEquals(k, ModelProfile.cacheKey("{model}", "cpu x86_64 2 cores"));
        assertNotEquals(k, ModelProfile.cacheKey("{model}", "cpu x86_64 4 cores"));
        assertNotEquals(k, ModelProfile.cacheKey("{model2}", "cpu x86_64 2 cores"));
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assertNotEquals(ModelProfile.cacheKey("ab", "c"), ModelProfile.cacheKey("a", "bc"));
    }

    @Test
    void duplicateNamesAndNegativeNumbersAreRejected() {
        LayerProfile a = PlanFixtures.timed("a", 1);
        IllegalArgumentException dup = assertThrows(IllegalArgumentException.class,
                () -> ModelProfile.of(List.of(a, a), 1));
        assertEquals("layer name 'a' is used by layers 0 and 1; names must be unique", dup.getMessage());
        IllegalArgumentException neg = assertThrows(IllegalArgumentException.class,
                () -> new LayerProfile("x", "T", 1, -4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
        assertEquals("parameterBytes must be >= 0, found -4 (layer 'x')", neg.getMessage());
    }

    @Test
    void analyticTimesComeFromFlops() {
        LayerProfile l = LayerProfile.analytic("d", "Dense", 1000, 4, 2, 10, 100, 2000, 1e6);
        assertEquals(2e-3, l.forwardSeconds(1), 1e-15);
        assertEquals(4e-3 * 8, l.backwardSeconds(8), 1e-15);
        assertEquals(4000 + 4000 + 8000, l.staticBytes());
        assertEquals(400, l.outputBytesPerExample());
        assertEquals(40, l.keptBytesPerExample());
        ModelProfile p = ModelProfile.of(List.of(l), 40).withFlopTimes(2e6);
        assertEquals(1e-3, p.layer(0).forwardSeconds(1), 1e-15);
        assertEquals(ModelProfile.TimeSource.ANALYTIC, p.timeSource());
    }

    @Test
    void planAccuracyReportsSignedError() {
        PlanAccuracy a = new PlanAccuracy(0.09, 0.1);
        assertEquals(-10.0, a.errorPercent(), 1e-9);
        assertEquals(0.1 / 0.09, a.ratio(), 1e-12);
        assertEquals("step time predicted 0.0900 s, measured 0.1000 s, error -10.0%", a.toString());
        assertThrows(IllegalArgumentException.class, () -> new PlanAccuracy(1, 0));
    }
}
