package io.sparkmp.bench;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.junit.jupiter.api.Assertions.assertEquals;

class CapacityModelTest {

    /** The closed form the benchmark prints equals DL4J's own count, without building a network. */
    @ParameterizedTest
    @CsvSource({"64, 9", "3328, 9", "1000, 4", "128, 1"})
    void parameterCountMatchesDl4j(int width, int hidden) {
        MultiLayerConfiguration conf = CapacityModel.conf(width, hidden);
        long dl4j = 0;
        for (int i = 0; i < conf.getConfs().size(); i++) {
            dl4j += conf.getConf(i).getLayer().initializer().numParams(conf.getConf(i));
        }
        assertEquals(dl4j, CapacityModel.parameters(width, hidden));
        assertEquals(CapacityModel.layers(hidden), conf.getConfs().size());
    }

    @ParameterizedTest
    @CsvSource({"3328, 91277066"})
    void knownSize(int width, long params) {
        assertEquals(params, CapacityModel.parameters(width, 9));
    }
}
