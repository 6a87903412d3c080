package io.sparkmp.spark;

import io.sparkmp.plan.PipelinePlan;
import io.sparkmp.schedule.ScheduleKind;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerJobStart;
import org.apache.spark.scheduler.SparkListenerStageSubmitted;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.storage.RDDInfo;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The planner inside the trainer, on an in-process local[2] Spark: the split a fit trains on is the plan's,
 * a dry run launches no barrier job, manual splits by index and by name are honoured and checked, and a
 * measured profile is measured once per model and hardware (driver memory, then the profile folder).
 */
class PlannedTrainingTest {

    private static SparkSession spark;
    private static JavaSparkContext jsc;
    private static final List<String> JOBS = new CopyOnWriteArrayList<>();
    private static final List<Boolean> BARRIER_STAGES = new CopyOnWriteArrayList<>();
    /** rank -> boundaries of the spec the rank was built from (local mode: same JVM). */
    static final Map<Integer, int[]> SEEN = new ConcurrentHashMap<>();

    @TempDir
    static Path profileDir;

    @BeforeAll
    static void start() {
        spark = SparkSession.builder().master("local[2]").appName("PlannedTrainingTest")
                .config("spark.ui.enabled", "false")
                .config("spark.stage.maxConsecutiveAttempts", "2")
                .config("spark.mp.slotWaitTimeout", "2s")
                .config("spark.mp.transport.ioTimeout", "60s")
                .config("spark.mp.plan.profileCache", profileDir.toString())
                .config("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
                .config("spark.kryo.registrator", "io.sparkmp.spark.SparkMpKryoRegistrator")
                .getOrCreate();
        jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        spark.sparkContext().addSparkListener(new SparkListener() {
            @Override
            public void onJobStart(SparkListenerJobStart e) {
                JOBS.add(String.valueOf(e.properties().getProperty("spark.job.description")));
            }

            @Override
            public void onStageSubmitted(SparkListenerStageSubmitted e) {
                boolean barrier = false;
                for (RDDInfo r : scala.collection.JavaConverters.seqAsJavaList(e.stageInfo().rddInfos())) {
                    barrier |= r.isBarrier();
                }
                BARRIER_STAGES.add(barrier);
            }
        });
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    @BeforeEach
    void reset() {
        SEEN.clear();
    }

    /** Heavy first layer, light rest: an even split by layer count is not what a time-balancing plan picks. */
    static MultiLayerConfiguration model(int width) {
        return new NeuralNetConfiguration.Builder().seed(3).updater(new Sgd(0.1)).list()
                .layer(new DenseLayer.Builder().name("wide").nIn(8).nOut(width).activation(Activation.TANH).build())
                .layer(new DenseLayer.Builder().name("d1").nIn(width).nOut(4).activation(Activation.TANH).build())
                .layer(new DenseLayer.Builder().name("d2").nIn(4).nOut(4).activation(Activation.TANH).build())
                .layer(new DenseLayer.Builder().name("d3").nIn(4).nOut(4).activation(Activation.TANH).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).name("out").nIn(4).nOut(2)
                        .activation(Activation.SOFTMAX).build())
                .build();
    }

    static JavaRDD<DataSet> data(int examples) {
        return data(examples, jsc);
    }

    /** {@code examples} rows of 8 uniform features and 2 alternating classes, in chunks of 8 on 2 partitions. */
    static JavaRDD<DataSet> data(int examples, JavaSparkContext sc) {
        Nd4j.getRandom().setSeed(7);
        INDArray x = Nd4j.rand(examples, 8);
        INDArray y = Nd4j.zeros(examples, 2);
        for (int i = 0; i < examples; i++) {
            y.putScalar(i, i % 2, 1.0);
        }
        List<DataSet> chunks = new ArrayList<>();
        for (DataSet d : new DataSet(x, y).batchBy(8)) {
            chunks.add(d);
        }
        return sc.parallelize(chunks, 2);
    }

    private static long profilingJobs() {
        return JOBS.stream().filter(d -> d.startsWith(ProfilingJob.DESCRIPTION)).count();
    }

    @Test
    void fitWithoutStagesOrBoundariesTrainsOnThePlannersSplitAndReportsItsAccuracy() {
        // Two stages fixed so the split itself is the planner's to choose (with two slots it could pick one).
        PipelineTrainer t = PipelineTrainer.builder(model(96)).stages(2).batchSize(16).logEvery(0)
                .engine(new RecordingEngine(EngineBridge.DEFAULT)).build();
        JavaRDD<DataSet> d = data(64);
        PipelinePlan plan = t.plan(d);
        TrainingResult r = t.fit(d);

        assertEquals(2, SEEN.size(), "both ranks were built");
        assertArrayEquals(plan.boundaries(), SEEN.get(0));
        assertArrayEquals(plan.boundaries(), SEEN.get(1));
        assertEquals(plan, r.plan());
        assertEquals(4, r.metrics().size());
        assertNotNull(r.planAccuracy());
        assertEquals(plan.predictedStepSeconds(), r.planAccuracy().predictedSeconds(), 0.0);
        assertEquals(r.medianStepSeconds(), r.planAccuracy().measuredSeconds(), 0.0);
        MultiLayerNetwork net = r.network();
        assertEquals(5, net.getnLayers());
        assertTrue(Double.isFinite(r.metrics().get(3).loss()));
    }

    @Test
    void freeChoicesComeFromThePlannerAndFixedOnesAreKept() {
        PipelinePlan free = PipelineTrainer.builder(model(40)).batchSize(16).profile(ProfileMode.ANALYTIC).build()
                .plan(spark.sparkContext());
        // replicas auto: P and R are both the planner's, within the two slots, and the plan says why its R
        assertTrue(free.devices() * free.replicas() <= 2, "local[2] has two slots, plan uses " + free.executors());
        assertTrue(free.replicasReason().startsWith("R = " + free.replicas() + " chosen by predicted step"),
                free.replicasReason());
        assertTrue(free.explain().contains("replicas: " + free.replicasReason()), free.explain());

        PipelinePlan fixed = PipelineTrainer.builder(model(40)).batchSize(16).stages(2).microBatches(8)
                .schedule(ScheduleKind.GPIPE).profile(ProfileMode.ANALYTIC).build().plan(spark.sparkContext());
        assertEquals(2, fixed.devices());
        assertEquals(8, fixed.microBatches());
        assertEquals(ScheduleKind.GPIPE, fixed.schedule());
    }

    /**
     * spark.mp.plan.hostSlowdown reaches the plan: a given figure is charged on local[2]'s two slots (one JVM, so
     * one host), 1 (the default) charges nothing and runs no probe, auto runs the probe as a barrier job and
     * charges what it measured.
     */
    @Test
    void hostSlowdownSettingReachesThePlan() {
        org.apache.spark.SparkContext sc = spark.sparkContext();
        SparkMpConf mp = SparkMpConf.from(sc.getConf());
        java.util.function.Function<Double, PipelinePlan> plan = slowdown -> {
            Map<ConfEntry<?>, Object> in = new java.util.HashMap<>(Map.of(SparkMpConf.STAGES, 2,
                    SparkMpConf.REPLICAS, 1, SparkMpConf.BATCH_SIZE, 16, SparkMpConf.MICRO_BATCHES, 4,
                    SparkMpConf.SCHEDULE, ScheduleKind.ONE_F_ONE_B));
            if (slowdown != null) {
                in.put(SparkMpConf.PLAN_HOST_SLOWDOWN, slowdown);
            }
            return PlanResolver.plan(sc, model(24), TrainingSettings.of(in, mp), PlanChoices.NONE, null);
        };
        int jobs = JOBS.size();
        PipelinePlan none = plan.apply(null);
        assertEquals(io.sparkmp.schedule.HostSharing.NONE, none.hostSharing());
        PipelinePlan given = plan.apply(1.7);
        assertEquals(new io.sparkmp.schedule.HostSharing(2, 1, 1.7), given.hostSharing());
        assertTrue(given.predictedStepSeconds() > none.predictedStepSeconds(), given.explain());
        assertTrue(given.explain().contains("host sharing: 2 devices x 1 per host, 1.700x"), given.explain());
        assertFalse(JOBS.subList(jobs, JOBS.size()).stream().anyMatch(j -> j.startsWith(HostSharingProbe.DESCRIPTION)),
                "a given figure runs no probe");
        PipelinePlan auto = plan.apply(Double.NaN);
        assertTrue(JOBS.subList(jobs, JOBS.size()).stream().anyMatch(j -> j.startsWith(HostSharingProbe.DESCRIPTION)),
                "auto runs the probe: " + JOBS.subList(jobs, JOBS.size()));
        io.sparkmp.schedule.HostSharing measured = auto.hostSharing();
        assertTrue(measured.equals(io.sparkmp.schedule.HostSharing.NONE)
                || (measured.devicesPerHost() == 2 && measured.copies() == 1), measured.toString());
    }

    @Test
    void dryRunReturnsAPlanWithoutRunningABarrierJob() {
        int jobs = JOBS.size();
        int stages = BARRIER_STAGES.size();
        PipelinePlan p = PipelineTrainer.builder(model(24)).stages(2).batchSize(16).build().plan(data(32));
        assertEquals(2, p.devices());
        assertTrue(p.explain().contains("Pipeline plan: 5 layers -> 2 stages"), p.explain());
        List<String> ran = JOBS.subList(jobs, JOBS.size());
        for (String j : ran) {
            assertTrue(j.startsWith(ProfilingJob.DESCRIPTION), "a dry run ran job '" + j + "'");
        }
        assertEquals(1, ran.size(), "one profiling job: " + ran);
        assertFalse(BARRIER_STAGES.subList(stages, BARRIER_STAGES.size()).contains(true), "a barrier stage ran");
        assertTrue(SEEN.isEmpty());
    }

    @Test
    void manualBoundariesByIndexAndByNameAreHonoured() {
        PipelineTrainer byIndex = PipelineTrainer.builder(model(16)).boundaries(0, 4, 5).batchSize(8).logEvery(0)
                .profile(ProfileMode.ANALYTIC).engine(new RecordingEngine(new FakeEngine(-1, -1, 0))).build();
        byIndex.fit(data(16));
        assertArrayEquals(new int[] {0, 4, 5}, SEEN.get(0));
        assertArrayEquals(new int[] {0, 4, 5}, SEEN.get(1));

        SEEN.clear();
        PipelineTrainer byName = PipelineTrainer.builder(model(16)).boundaryNames("d2").batchSize(8).logEvery(0)
                .profile(ProfileMode.ANALYTIC).engine(new RecordingEngine(new FakeEngine(-1, -1, 0))).build();
        assertArrayEquals(new int[] {0, 2, 5}, byName.plan(spark.sparkContext()).boundaries());
        byName.fit(data(16));
        assertArrayEquals(new int[] {0, 2, 5}, SEEN.get(1));
    }

    @Test
    void badBoundariesAreRejectedAtBuildWithTheValueAndTheRule() {
        MultiLayerConfiguration m = model(16);
        assertMessage(() -> PipelineTrainer.builder(m).boundaries(0, 2, 2, 5).build(),
                "boundaries [0, 2, 2, 5]: must be strictly increasing (every stage non-empty), found 2 then 2 at position 2");
        assertMessage(() -> PipelineTrainer.builder(m).boundaries(0, 2, 4).build(),
                "boundaries [0, 2, 4]: must start at 0 and end at the layer count (5), found 0 .. 4");
        assertMessage(() -> PipelineTrainer.builder(m).boundaryNames("d9").build(),
                "no layer named 'd9' (the model has 5 layers: wide .. out)");
        assertMessage(() -> PipelineTrainer.builder(m).boundaryNames("wide").build(),
                "boundary name 'wide' is layer 0, which always starts stage 0; name only the first layers of later stages");
        assertMessage(() -> PipelineTrainer.builder(m).boundaries(0, 2, 5).stages(3).build(),
                "boundaries give 2 stages but stages x stagesPerDevice = 3 x 1 = 3");
        assertMessage(() -> PipelineTrainer.builder(m).boundaries(0, 5).boundaryNames("d1").build(),
                "give boundaries or boundaryNames, not both");
        IllegalStateException twice = assertThrows(IllegalStateException.class,
                () -> PipelineTrainer.builder(m).boundaries(0, 5).boundaries(0, 5));
        assertEquals("boundaries was already set to [0, 5]", twice.getMessage());
    }

    @Test
    void aMeasuredProfileIsMeasuredOncePerModelThenReadFromMemoryAndFromTheFolder() throws Exception {
        MultiLayerConfiguration m = model(20); // a width no other test uses: its own cache key
        long before = profilingJobs();
        PipelinePlan first = PipelineTrainer.builder(m).stages(2).batchSize(16).build().plan(spark.sparkContext());
        assertEquals(before + 1, profilingJobs());
        PipelinePlan again = PipelineTrainer.builder(m).stages(2).batchSize(16).build().plan(spark.sparkContext());
        assertEquals(before + 1, profilingJobs(), "the second plan must reuse the cached profile");
        assertEquals(first, again);
        try (var files = Files.list(profileDir)) {
            assertTrue(files.anyMatch(f -> f.getFileName().toString().endsWith(".json")), "no profile file written");
        }

        ProfileCache.clearMemory(); // as a new application would start
        PipelinePlan fromDisk = PipelineTrainer.builder(m).stages(2).batchSize(16).build().plan(spark.sparkContext());
        assertEquals(before + 1, profilingJobs(), "the profile file must be used");
        assertEquals(first.boundaries().length, fromDisk.boundaries().length);
        assertArrayEquals(first.boundaries(), fromDisk.boundaries());
        assertEquals(first.predictedStepSeconds(), fromDisk.predictedStepSeconds(), 1e-12);
    }

    /**
     * A layer larger than the whole budget (16384 x 16384 floats: 1 GiB of parameters, 4 GiB with gradients
     * and Adam's two moments) fails on the driver with the planner's named error, from the analytic profile,
     * before any Spark job: the profiling job would otherwise be the one to run out of memory.
     */
    @Test
    void aLayerLargerThanTheBudgetFailsBeforeAnyProfilingJob() {
        MultiLayerConfiguration huge = new NeuralNetConfiguration.Builder().seed(3)
                .dataType(org.nd4j.linalg.api.buffer.DataType.FLOAT).updater(new org.nd4j.linalg.learning.config.Adam(1e-3))
                .list()
                .layer(new DenseLayer.Builder().name("in").nIn(8).nOut(16384).activation(Activation.RELU).build())
                .layer(new DenseLayer.Builder().name("huge").nIn(16384).nOut(16384).activation(Activation.RELU).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).name("out").nIn(16384).nOut(2)
                        .activation(Activation.SOFTMAX).build())
                .build();
        int jobsBefore = JOBS.size();
        long t0 = System.nanoTime();
        io.sparkmp.plan.InfeasiblePlanException e = assertThrows(io.sparkmp.plan.InfeasiblePlanException.class,
                () -> PipelineTrainer.builder(huge).stages(2).batchSize(16).profile(ProfileMode.MEASURED).build()
                        .fit(data(32)));
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertTrue(e.getMessage().startsWith("layer 1 'huge' (DenseLayer) alone needs 4.0 GiB"), e.getMessage());
        assertTrue(e.getMessage().contains("but the budget is"), e.getMessage());
        // No job at all, so in particular no profiling job ("spark-mp profiling ...").
        assertEquals(List.of(), List.copyOf(JOBS.subList(jobsBefore, JOBS.size())));
        assertTrue(seconds < 30, "took " + seconds + " s");
    }

    private static void assertMessage(org.junit.jupiter.api.function.Executable e, String message) {
        IllegalArgumentException x = assertThrows(IllegalArgumentException.class, e);
        assertEquals(message, x.getMessage());
    }

    /** Records each rank's spec boundaries, then delegates. */
    static final class RecordingEngine implements EngineBridge, java.io.Serializable {
        private final EngineBridge delegate;

        RecordingEngine(EngineBridge delegate) {
            this.delegate = delegate;
        }

        @Override
        public StageRunnerFactory runners() {
            StageRunnerFactory inner = delegate.runners();
            return (spec, rank, channel) -> {
                SEEN.put(rank, spec.boundaries());
                return inner.create(spec, rank, channel);
            };
        }

        @Override
        public ChannelFactory channels() {
            return delegate.channels();
        }

        @Override
        public byte[] newSecret() {
            return delegate.newSecret();
        }
    }

}
