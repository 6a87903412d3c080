package io.sparkmp.spark;

import io.sparkmp.store.LayerEntry;
import io.sparkmp.store.StoreManifest;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TrainingResultTest {

    @Test
    void aModelLargerThanTheDriversFreeMemoryIsNotAssembledAndTheMessageNamesBoth() {
        long values = 1L << 47; // 2 x 4 x 2^47 bytes = 1 PiB: more than any driver has
        long layerBytes = 32 + 2 * 4 * values; // the 32-byte header, then FLOAT parameters and state
        StoreManifest m = new StoreManifest(StoreManifest.FORMAT_VERSION, PipelineTrainerTest.mlp(1).toJson(),
                List.of(new LayerEntry(0, "layer-00000-x.bin", "FLOAT", values, values, layerBytes, "00000000")), 3, 1,
                0, 42, new int[] {0, 2}, "job", 0);
        URI store = URI.create("file:/nonexistent/spark-mp-store");
        TrainingResult r = new TrainingResult(store, false, m, new Configuration(), List.of(), 0, 0, 1.0, null, null);
        IllegalStateException e = assertThrows(IllegalStateException.class, r::network);
        assertTrue(e.getMessage().startsWith("the trained model holds " + (layerBytes >> 20) + " MiB of parameters and "
                + "updater state, more than the driver's free off-heap memory ("), e.getMessage());
        assertTrue(e.getMessage().contains("it stays in " + store), e.getMessage());
        assertTrue(e.getMessage().contains("StoreExport"), e.getMessage());
        assertEquals(layerBytes, r.modelBytes());
        assertTrue(TrainingResult.freeOffHeapBytes() > 0 && TrainingResult.freeOffHeapBytes() < layerBytes);
    }
}
