package io.sparkmp.spark.testing;

import org.apache.spark.BarrierTaskContext;
import org.apache.spark.api.java.JavaRDD;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import scala.collection.Iterator;
import scala.collection.JavaConverters;
import scala.reflect.ClassTag$;
import scala.runtime.AbstractFunction1;

import java.io.Serializable;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Proves the cluster extension: a barrier job spans two executor JVMs and allGather sees both tasks. */
class SparkStandaloneClusterIT {

    @RegisterExtension
    static final SparkStandaloneCluster CLUSTER = SparkStandaloneCluster.withWorkers(2);

    /** Each task announces its partition and JVM pid, and returns what allGather returned. */
    static final class AnnounceAndGather extends AbstractFunction1<Iterator<Integer>, Iterator<String>>
            implements Serializable {
        @Override
        public Iterator<String> apply(Iterator<Integer> rows) {
            BarrierTaskContext ctx = BarrierTaskContext.get();
            String me = ctx.partitionId() + "@" + ProcessHandle.current().pid();
            String[] all = ctx.allGather(me);
            return JavaConverters.asScalaIterator(List.of(me + "=" + String.join(",", all)).iterator());
        }
    }

    @Test
    void barrierAllGatherSpansTwoExecutorJvms() throws Exception {
        JavaRDD<Integer> input = CLUSTER.sparkContext().parallelize(List.of(1, 2), 2);
        JavaRDD<String> gathered = JavaRDD.fromRDD(input.rdd().barrier()
                .mapPartitions(new AnnounceAndGather(), false, ClassTag$.MODULE$.apply(String.class)),
                ClassTag$.MODULE$.apply(String.class));
        List<String> results = new ArrayList<>(gathered.collect());

        assertEquals(2, results.size(), results.toString());
        String[] first = results.get(0).split("=");
        String[] second = results.get(1).split("=");
        // allGather returns messages in partition order, identical on every task.
        assertEquals(first[0] + "," + second[0], first[1]);
        assertEquals(first[1], second[1]);
        Set<String> pids = new HashSet<>();
        for (String r : results) {
            pids.add(r.split("=")[0].split("@")[1]);
        }
        assertEquals(2, pids.size(), "tasks must run in two different executor JVMs: " + results);
        assertTrue(!pids.contains(Long.toString(ProcessHandle.current().pid())), "no task may run in the driver");
        assertEquals(2, CLUSTER.executorPids().size(), CLUSTER.executorPids().toString());
        try (Stream<java.nio.file.Path> logs = Files.list(CLUSTER.eventLogDir())) {
            assertTrue(logs.findAny().isPresent(), "event log must be written to " + CLUSTER.eventLogDir());
        }
    }
}
