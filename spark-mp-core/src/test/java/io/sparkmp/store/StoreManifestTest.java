package io.sparkmp.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.learning.config.Adam;

class StoreManifestTest {

    private static StoreManifest sample() {
        String model = StoreFixtures.mlp(DataType.FLOAT, new Adam(0.01), 5).toJson();
        List<LayerEntry> layers = List.of(new LayerEntry(0, "layer-00000-j.bin", "FLOAT", 25, 50, 32 + 75 * 4, "0badf00d"),
                new LayerEntry(1, "layer-00001-j.bin", "FLOAT", 18, 0, 32 + 18 * 4, "ffffffff"));
        return new StoreManifest(1, model, layers, 12_345_678_901L, 3, 17, -5L, new int[] {0, 1}, "job-\"7\"\n",
                1_700_000_000_123L);
    }

    @Test
    void jsonRoundTripKeepsEveryField() {
        StoreManifest m = sample();
        StoreManifest back = StoreManifest.fromJson(m.toJson());
        assertEquals(m, back);
        assertArrayEquals(new int[] {0, 1}, back.boundaries());
        assertEquals(m.modelJson(), back.modelJson());
        assertEquals("job-\"7\"\n", back.writer());
        assertEquals(m.toJson(), back.toJson());
    }

    @Test
    void absentOrMistypedFieldsAndUnknownVersionsAreNamed() {
        String json = sample().toJson();
        IllegalArgumentException absent = assertThrows(IllegalArgumentException.class,
                () -> StoreManifest.fromJson(json.replace("\"iteration\"", "\"iterations\"")));
        assertEquals("manifest has no field iteration", absent.getMessage());
        IllegalArgumentException typed = assertThrows(IllegalArgumentException.class,
                () -> StoreManifest.fromJson(json.replace("\"checksum\" : \"ffffffff\"", "\"checksum\" : 7")));
        assertEquals("manifest layer entry 1 field checksum must be a string, found 7", typed.getMessage());
        IllegalArgumentException version = assertThrows(IllegalArgumentException.class,
                () -> StoreManifest.fromJson(json.replace("\"formatVersion\" : 1", "\"formatVersion\" : 2")));
        assertEquals("manifest formatVersion 2 is not supported by this spark-mp (it reads 1)", version.getMessage());
        IllegalArgumentException broken = assertThrows(IllegalArgumentException.class,
                () -> StoreManifest.fromJson(json.substring(0, json.length() / 2)));
        assertTrue(broken.getMessage().startsWith("manifest is not valid JSON"), broken.getMessage());
        IllegalArgumentException size = assertThrows(IllegalArgumentException.class,
                () -> StoreManifest.fromJson(json.replace("\"bytes\" : 104", "\"bytes\" : 103")));
        assertEquals("bytes of layer-00001-j.bin must be 104 for 18 + 0 FLOAT values, found 103", size.getMessage());
    }

    @Test
    void boundariesAreCopiedNotShared() {
        int[] b = {0, 1};
        StoreManifest m = new StoreManifest(1, "{}", List.of(), 0, 0, 0, 0, b, "j", 0);
        b[1] = 9;
        m.boundaries()[0] = 9;
        assertArrayEquals(new int[] {0, 1}, m.boundaries());
    }
}
