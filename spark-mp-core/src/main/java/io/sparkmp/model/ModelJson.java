package io.sparkmp.model;

import java.io.IOException;

/** Tells a DL4J model JSON's kind from the file itself: a ComputationGraphConfiguration or a MultiLayerConfiguration. */
@io.sparkmp.Internal
public final class ModelJson {

    private ModelJson() {
    }

    /**
     * Whether {@code json} is a ComputationGraphConfiguration's: an object with {@code vertices} and no {@code confs}
     * (a MultiLayerConfiguration's list of layer configurations). Not JSON at all: false (the MultiLayerConfiguration
     * parse then names the problem).
     */
    public static boolean isGraph(String json) {
        try {
            org.nd4j.shade.jackson.databind.JsonNode n = new org.nd4j.shade.jackson.databind.ObjectMapper().readTree(json);
            return n != null && n.isObject() && n.has("vertices") && !n.has("confs");
        } catch (IOException e) {
            return false;
        }
    }
}
