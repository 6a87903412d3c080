package io.sparkmp.store;

import java.io.IOException;
import java.util.TreeSet;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.nd4j.shade.jackson.databind.JsonNode;
import org.nd4j.shade.jackson.databind.ObjectMapper;
import org.nd4j.shade.jackson.databind.node.ObjectNode;

/** Finds the first layer in which two model configurations differ in a way that changes training. */
final class ModelDiff {

    // Counters that move with training, and the parameter names DL4J fills in only once a network is built.
    private static final String[] IGNORED = {"iterationCount", "epochCount", "variables"};
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int SHORT = 160;

    private ModelDiff() {
    }

    /** Null when the models match, else a message naming the first difference. */
    static String firstDifference(MultiLayerConfiguration stored, MultiLayerConfiguration given) {
        int ns = stored.getConfs().size();
        int ng = given.getConfs().size();
        if (ns != ng) {
            return "the stored model has " + ns + " layers, the given one " + ng;
        }
        for (int i = 0; i < ns; i++) {
            NeuralNetConfiguration s = stored.getConf(i);
            NeuralNetConfiguration g = given.getConf(i);
            String path = firstDifference(tree(s), tree(g), "");
            if (path != null) {
                return "layer " + i + " differs from the stored model at " + path.substring(1)
                        + ":\n  stored: " + describe(s.getLayer()) + "\n  given:  " + describe(g.getLayer());
            }
        }
        if (stored.getDataType() != given.getDataType()) {
            return "the stored model is " + stored.getDataType() + ", the given one " + given.getDataType();
        }
        return null;
    }

    private static JsonNode tree(NeuralNetConfiguration c) {
        try {
            ObjectNode o = (ObjectNode) JSON.readTree(c.toJson());
            for (String f : IGNORED) {
                o.remove(f);
            }
            return o;
        } catch (IOException e) {
            throw new IllegalStateException("cannot read DL4J's own layer JSON", e);
        }
    }

    /** The path of the first differing field ("" prefix, dot-separated), or null when equal. */
    private static String firstDifference(JsonNode a, JsonNode b, String path) {
        if (a == null || b == null) {
            return a == b ? null : path + " (stored " + shorten(String.valueOf(a)) + ", given "
                    + shorten(String.valueOf(b)) + ")";
        }
        if (a.isObject() && b.isObject()) {
            TreeSet<String> names = new TreeSet<>();
            a.fieldNames().forEachRemaining(names::add);
            b.fieldNames().forEachRemaining(names::add);
            for (String n : names) {
                String d = firstDifference(a.get(n), b.get(n), path + "." + n);
                if (d != null) {
                    return d;
                }
            }
            return null;
        }
        if (a.isArray() && b.isArray() && a.size() == b.size()) {
            for (int i = 0; i < a.size(); i++) {
                String d = firstDifference(a.get(i), b.get(i), path + "[" + i + "]");
                if (d != null) {
                    return d;
                }
            }
            return null;
        }
        return a.equals(b) ? null : path + " (stored " + shorten(a.toString()) + ", given " + shorten(b.toString()) + ")";
    }

    static String describe(Layer l) {
        StringBuilder sb = new StringBuilder(l.getClass().getSimpleName());
        if (l.getLayerName() != null) {
            sb.append(" \"").append(l.getLayerName()).append('"');
        }
        if (l instanceof FeedForwardLayer f) {
            sb.append(" nIn=").append(f.getNIn()).append(" nOut=").append(f.getNOut());
        }
        if (l instanceof BaseLayer b) {
            sb.append(" activation=").append(b.getActivationFn()).append(" updater=").append(b.getIUpdater());
        }
        return shorten(sb.toString());
    }

    private static String shorten(String s) {
        return s.length() <= SHORT ? s : s.substring(0, SHORT - 3) + "...";
    }
}
