package io.sparkmp.bench;

import io.sparkmp.plan.PipelinePlan;
import io.sparkmp.plan.StagePlan;
import io.sparkmp.schedule.ScheduleKind;
import io.sparkmp.spark.PipelineTrainer;
import io.sparkmp.spark.ProfileMode;
import io.sparkmp.spark.StageMemoryUse;
import io.sparkmp.spark.TrainingResult;
import io.sparkmp.store.LayerEntry;
import io.sparkmp.store.ModelStore;
import io.sparkmp.store.StoreManifest;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerStageSubmitted;
import org.apache.spark.scheduler.SparkListenerTaskStart;
import org.apache.spark.storage.RDDInfo;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import scala.collection.JavaConverters;

import java.io.File;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One capacity probe, run by {@link CapacityBenchmark} in a fresh JVM so that an out-of-memory error ends only
 * this probe: trains {@link CapacityModel} at one width for a few optimizer steps, writes the model and checks it.
 * {@code contender=dl4j} runs DL4J's own {@code fit} in this JVM and writes a {@code ModelSerializer} zip;
 * {@code contender=pN} runs spark-mp with N stages on {@code local-cluster[N,1,heap]}, this JVM being the driver
 * that never holds the model: each task writes its own layers to the per-layer store at {@code out}, and the
 * probe checks the store's manifest (never {@code TrainingResult.network()}).
 *
 * <p>Arguments are {@code key=value}: contender, width, hidden, steps, microBatches, out, cap (each executor's
 * javacpp maxphysicalbytes), executorHeapMb, and optionally deviceMemory ({@code spark.mp.device.memory}).
 * It reports on stdout in lines {@code CAPACITY <kind> key=value ...} ({@link ProbeLog} reads them) and ends with
 * {@code CAPACITY ok} only when it took at least two optimizer steps and the written model checked out.
 */
public final class CapacityProbe {

    private CapacityProbe() {
    }

    public static void main(String[] args) {
        Map<String, String> a = new LinkedHashMap<>();
        for (String s : args) {
            int eq = s.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("arguments are key=value, found " + s);
            }
            a.put(s.substring(0, eq), s.substring(eq + 1));
        }
        int code = 0;
        try {
            String contender = need(a, "contender");
            if (contender.equals("dl4j")) {
                dl4j(a);
            } else if (contender.matches("p[1-9][0-9]*")) {
                sparkMp(Integer.parseInt(contender.substring(1)), a);
            } else {
                throw new IllegalArgumentException("contender must be dl4j or p<stages>, found " + contender);
            }
        } catch (Throwable t) { // OutOfMemoryError included: report it, then exit with a failure
            ProbeLog.say("failed", "error", t.getClass().getName());
            t.printStackTrace();
            code = 1;
        }
        System.out.flush();
        System.exit(code); // a barrier task timer thread may otherwise keep the JVM alive
    }

    private static void dl4j(Map<String, String> a) throws Exception {
        if (a.containsKey("batch")) {
            dl4jBatch(a);
            return;
        }
        int width = Integer.parseInt(need(a, "width"));
        int hidden = Integer.parseInt(need(a, "hidden"));
        MultiLayerNetwork net = new MultiLayerNetwork(CapacityModel.conf(width, hidden));
        net.init();
        for (DataSet d : CapacityModel.data(Integer.parseInt(need(a, "steps")))) {
            net.fit(d);
        }
        int steps = net.getIterationCount();
        ProbeLog.say("trained", "steps", steps, "loss", net.score());
        File out = new File(need(a, "out"));
        ModelSerializer.writeModel(net, out, true);
        ProbeLog.say("written", "path", out, "bytes", out.length());
        // Read back only the parameter count: restoring the whole zip would need a second copy of the model.
        finish(steps, out.length() > 0 && net.numParams() == CapacityModel.parameters(width, hidden));
    }

    /** Batch capacity: {@link BatchModel} at {@code side} pixels, {@code steps} mini-batches of {@code batch}. */
    private static void dl4jBatch(Map<String, String> a) throws Exception {
        int batch = Integer.parseInt(need(a, "batch"));
        int side = Integer.parseInt(need(a, "side"));
        int steps = Integer.parseInt(need(a, "steps"));
        MultiLayerNetwork net = new MultiLayerNetwork(BatchModel.conf(side, DataType.FLOAT));
        net.init();
        for (int s = 0; s < steps; s++) {
            net.fit(BatchModel.examples((long) s * batch, batch, side, DataType.FLOAT));
        }
        int done = net.getIterationCount();
        ProbeLog.say("trained", "steps", done, "loss", net.score());
        File out = new File(need(a, "out"));
        ModelSerializer.writeModel(net, out, true);
        finish(done, out.length() > 0);
    }

    private static void sparkMp(int stages, Map<String, String> a) throws Exception {
        boolean batchRun = a.containsKey("batch");
        int width = batchRun ? 0 : Integer.parseInt(need(a, "width"));
        int hidden = batchRun ? 0 : Integer.parseInt(need(a, "hidden"));
        int steps = Integer.parseInt(need(a, "steps"));
        int heapMb = Integer.parseInt(need(a, "executorHeapMb"));
        String master = "local-cluster[" + stages + ",1," + heapMb + "]";
        SparkConf sc = new SparkConf().setMaster(master).setAppName("CapacityProbe p" + stages + " W" + width)
                .set("spark.ui.enabled", "false").set("spark.ui.showConsoleProgress", "false")
                .set("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
                .set("spark.kryo.registrator", "io.sparkmp.spark.SparkMpKryoRegistrator");
        LocalCluster.configure(sc);
        sc.set("spark.executor.memory", heapMb + "m")
                .set("spark.executor.extraJavaOptions", sc.get("spark.executor.extraJavaOptions")
                        + " -Dorg.bytedeco.javacpp.maxphysicalbytes=" + need(a, "cap"))
                // One attempt: a probe that runs out of memory should fail now, not after Spark's retries.
                .set("spark.task.maxFailures", "1").set("spark.stage.maxConsecutiveAttempts", "1");
        String device = a.getOrDefault("deviceMemory", "");
        if (!device.isBlank()) {
            sc.set("spark.mp.device.memory", device);
        }
        JavaSparkContext jsc = new JavaSparkContext(sc);
        try {
            ProbeLog.say("app", "id", jsc.sc().applicationId());
            jsc.sc().addSparkListener(new RankListener());
            LocalCluster.awaitExecutors(jsc.sc(), master);
            MultiLayerConfiguration conf;
            JavaRDD<DataSet> data;
            int batch;
            if (batchRun) {
                batch = Integer.parseInt(need(a, "batch"));
                int side = Integer.parseInt(need(a, "side"));
                conf = BatchModel.conf(side, DataType.FLOAT);
                // Generated on the executors, chunk by chunk: the driver never holds the training data.
                int chunks = (int) (((long) batch * steps + BatchModel.CHUNK - 1) / BatchModel.CHUNK);
                data = jsc.parallelize(java.util.stream.IntStream.range(0, chunks).boxed().toList(), stages)
                        .map(c -> BatchModel.examples((long) c * BatchModel.CHUNK, BatchModel.CHUNK, side, DataType.FLOAT));
            } else {
                batch = CapacityModel.BATCH;
                conf = CapacityModel.conf(width, hidden);
                data = jsc.parallelize(CapacityModel.data(steps), 1);
            }
            PipelineTrainer.Builder tb = PipelineTrainer.builder(conf).stages(stages)
                    .schedule(ScheduleKind.ONE_F_ONE_B).batchSize(batch).epochs(1).shuffle(false).logEvery(1)
                    .profile(ProfileMode.ANALYTIC).output(new File(need(a, "out")).toURI()).overwrite(true);
            String mArg = need(a, "microBatches");
            // auto or 0: the planner sizes M from the batch and the budget
            if (!mArg.equals("auto") && Integer.parseInt(mArg) > 0) {
                tb.microBatches(Integer.parseInt(mArg));
            }
            PipelineTrainer trainer = tb.build();
            // The dry run first, so that the predicted memory is reported even when training then fails.
            PipelinePlan plan = trainer.plan(data);
            ProbeLog.say("microbatches", "m", plan.microBatches(), "size", plan.microBatchSize());
            for (StagePlan s : plan.stages()) {
                ProbeLog.say("plan", "stage", s.index(), "m", plan.microBatches(), "first", s.firstLayer(), "end", s.endLayer(),
                        "params", s.parameters(), "predicted", s.memory().totalBytes(),
                        "budget", s.memory().budgetBytes());
            }
            TrainingResult r = trainer.fit(data);
            ProbeLog.say("trained", "steps", r.metrics().size(), "loss",
                    r.metrics().isEmpty() ? Double.NaN : r.metrics().get(r.metrics().size() - 1).loss());
            for (StageMemoryUse u : r.stageMemory()) {
                ProbeLog.say("measured", "device", u.device(), "predicted", u.predictedBytes(), "start", u.startBytes(),
                        "peak", u.peakBytes());
            }
            // Never r.network(): the point is that no JVM holds the whole model. Reopening the store checks its
            // manifest and every layer file's size; it must name each layer with that layer's parameter count.
            StoreManifest m = ModelStore.open(r.store(), new Configuration()).manifest();
            long withParameters = java.util.stream.IntStream.range(0, conf.getConfs().size())
                    .filter(i -> conf.getConf(i).getLayer().initializer().numParams(conf.getConf(i)) > 0).count();
            // Every layer with parameters (a pooling layer has none and no file).
            boolean complete = m.layers().size() == withParameters && m.iteration() >= 2;
            for (LayerEntry e : m.layers()) { // Adam: two moments per parameter
                complete &= e.paramCount() == conf.getConf(e.layer()).getLayer().initializer()
                        .numParams(conf.getConf(e.layer())) && e.stateCount() == 2 * e.paramCount();
            }
            ProbeLog.say("written", "path", r.store(), "bytes", m.layerBytes(), "layers", m.layers().size(),
                    "iteration", m.iteration());
            finish(r.metrics().size(), complete);
        } finally {
            ProcessTreeSampler.executorPeaks(ProcessHandle.current())
                    .forEach((id, peak) -> ProbeLog.say("rss", "executor", id, "peak", peak));
            jsc.stop();
        }
    }

    private static void finish(long steps, boolean written) {
        if (steps < 2 || !written) {
            throw new IllegalStateException("probe incomplete: " + steps + " optimizer steps (at least 2 needed), "
                    + (written ? "model written" : "model not written or not complete"));
        }
        ProbeLog.say("ok");
    }

    /** Reports which executor runs each barrier task (rank = partition index) as the task starts. */
    private static final class RankListener extends SparkListener {
        private final Set<Integer> barrierStages = ConcurrentHashMap.newKeySet();

        @Override
        public void onStageSubmitted(SparkListenerStageSubmitted e) {
            for (RDDInfo rdd : JavaConverters.seqAsJavaList(e.stageInfo().rddInfos())) {
                if (rdd.isBarrier()) {
                    barrierStages.add(e.stageInfo().stageId());
                    return;
                }
            }
        }

        @Override
        public void onTaskStart(SparkListenerTaskStart e) {
            if (barrierStages.contains(e.stageId())) {
                ProbeLog.say("rank", "rank", e.taskInfo().index(), "executor", e.taskInfo().executorId());
            }
        }
    }

    private static String need(Map<String, String> a, String key) {
        String v = a.get(key);
        if (v == null) {
            throw new IllegalArgumentException("missing argument " + key + "=..., found " + a.keySet());
        }
        return v;
    }
}
