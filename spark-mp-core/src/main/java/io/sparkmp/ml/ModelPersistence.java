package io.sparkmp.ml;

import io.sparkmp.runtime.PipelineSpec;
import io.sparkmp.schedule.ScheduleKind;
import io.sparkmp.store.ModelStore;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.FileUtil;
import org.apache.hadoop.fs.Path;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsReader$;
import org.apache.spark.ml.util.DefaultParamsWriter$;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.ml.util.MLWriter;
import org.nd4j.shade.jackson.databind.JsonNode;
import org.nd4j.shade.jackson.databind.ObjectMapper;
import org.nd4j.shade.jackson.databind.node.ObjectNode;
import scala.Option;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;

/**
 * Saving and loading {@link PipelineParallelModel}: Spark ML's metadata layout for the Params
 * ({@code path/metadata}, written by Spark's own {@code DefaultParamsWriter}, so a {@code PipelineModel} holding
 * the model saves and loads it as any stage), the trained split in {@code path/sparkmp.json} (its {@code kind}:
 * {@code multiLayerNetwork} or {@code computationGraph}), and the layers as a
 * per-layer store in {@code path/store} (copied file by file from the model's store; the driver never holds them).
 */
final class ModelPersistence {

    /** Version of the {@code sparkmp.json} layout; a different one is refused on load, naming both. */
    static final int FORMAT = 1;
    static final String SPLIT_FILE = "sparkmp.json";
    static final String STORE_DIR = "store";
    /** Values of {@code kind} in {@code sparkmp.json}: the trained model a MultiLayerNetwork or a ComputationGraph. */
    static final String LAYERS = "multiLayerNetwork";
    static final String GRAPH = "computationGraph";
    private static final ObjectMapper JSON = new ObjectMapper();

    private ModelPersistence() {
    }

    static final class Writer extends MLWriter {
        private final PipelineParallelModel model;

        Writer(PipelineParallelModel model) {
            this.model = model;
        }

        @Override
        public void saveImpl(String path) {
            Configuration hadoop = sc().hadoopConfiguration();
            DefaultParamsWriter$.MODULE$.saveMetadata(model, path, sc(), Option.empty(), Option.empty());
            try {
                Path dir = new Path(path);
                FileSystem fs = dir.getFileSystem(hadoop);
                Path src = new Path(model.store());
                FileUtil.copy(src.getFileSystem(hadoop), src, fs, new Path(dir, STORE_DIR), false, true, hadoop);
                try (FSDataOutputStream out = fs.create(new Path(dir, SPLIT_FILE), true)) {
                    out.write(toJson(model).getBytes(StandardCharsets.UTF_8));
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot save the model to " + path + ": " + e.getMessage(), e);
            }
        }
    }

    static final class Reader extends MLReader<PipelineParallelModel> {
        @Override
        public PipelineParallelModel load(String path) {
            DefaultParamsReader.Metadata meta = DefaultParamsReader$.MODULE$.loadMetadata(path, sc(),
                    PipelineParallelModel.class.getName());
            Configuration hadoop = sc().hadoopConfiguration();
            Path dir = new Path(path);
            JsonNode j;
            try (InputStream in = dir.getFileSystem(hadoop).open(new Path(dir, SPLIT_FILE))) {
                j = JSON.readTree(new String(in.readAllBytes(), StandardCharsets.UTF_8));
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read " + new Path(dir, SPLIT_FILE) + ": " + e.getMessage(), e);
            }
            int format = j.path("format").asInt(-1);
            if (format != FORMAT) {
                throw new IllegalArgumentException("the model at " + path + " was saved by spark-mp "
                        + j.path("writer").asText("?") + " in model format " + format + "; this spark-mp ("
                        + version() + ") reads model format " + FORMAT);
            }
            URI store = null;
            TrainedModel trained;
            String kind = j.path("kind").asText(LAYERS); // absent: written before graphs, a MultiLayerNetwork
            try {
                store = dir.getFileSystem(hadoop).makeQualified(new Path(dir, STORE_DIR)).toUri();
                ModelStore s = ModelStore.open(store, hadoop);
                if (kind.equals(GRAPH) != s.holdsGraph()) {
                    throw new IllegalArgumentException(new Path(dir, SPLIT_FILE) + " says the model is a " + kind
                            + " but its store " + store + " holds a " + (s.holdsGraph() ? GRAPH : LAYERS));
                }
                if (kind.equals(GRAPH)) {
                    trained = new TrainedModel.Graph(s.manifest().modelJson(), ints(j.get("boundaries")),
                            j.get("devices").asInt());
                } else if (kind.equals(LAYERS)) {
                    trained = new TrainedModel.Layers(new PipelineSpec(s.manifest().modelJson(),
                            ints(j.get("boundaries")), ScheduleKind.parse(j.get("schedule").asText()),
                            j.get("devices").asInt(), j.get("stagesPerDevice").asInt(), j.get("microBatches").asInt(),
                            j.get("batchSize").asInt(), j.get("seed").asLong()));
                } else {
                    throw new IllegalArgumentException(new Path(dir, SPLIT_FILE) + ": unknown model kind `" + kind
                            + "` (expected " + LAYERS + " or " + GRAPH + ")");
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot open the model's store " + store + ": " + e.getMessage(), e);
            }
            ModelFit fit = new ModelFit(trained.devices(), j.get("inferenceBytes").asLong(),
                    j.get("budgetBytes").asLong());
            PipelineParallelModel m = new PipelineParallelModel(meta.uid(), trained, store, fit);
            meta.getAndSetParams(m, Option.empty());
            return m;
        }
    }

    static String toJson(PipelineParallelModel m) {
        ObjectNode o = JSON.createObjectNode();
        o.put("format", FORMAT);
        o.put("writer", version());
        TrainedModel t = m.trained();
        var b = o.putArray("boundaries");
        for (int x : t.boundaries()) {
            b.add(x);
        }
        o.put("devices", t.devices());
        if (t instanceof TrainedModel.Layers layers) {
            o.put("kind", LAYERS);
            PipelineSpec s = layers.split();
            o.put("schedule", s.schedule().label());
            o.put("stagesPerDevice", s.stagesPerDevice());
            o.put("microBatches", s.microBatches());
            o.put("batchSize", s.batchSize());
            o.put("seed", s.seed());
        } else {
            o.put("kind", GRAPH); // the graph's JSON is the store manifest's model
        }
        o.put("inferenceBytes", m.fitInfo().inferenceBytes());
        o.put("budgetBytes", m.fitInfo().budgetBytes());
        return o.toPrettyString();
    }

    private static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).asInt();
        }
        return out;
    }

    /** This build's version (the jar's Implementation-Version), or "dev" when run from classes. */
    static String version() {
        String v = ModelPersistence.class.getPackage().getImplementationVersion();
        return v == null ? "dev" : v;
    }
}
