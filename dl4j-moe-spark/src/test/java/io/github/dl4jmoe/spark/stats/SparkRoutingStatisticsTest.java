package io.github.dl4jmoe.spark.stats;

import static io.github.dl4jmoe.spark.TinyLm.CONTEXT;
import static io.github.dl4jmoe.spark.TinyLm.TOP_P_LAYER;
import static io.github.dl4jmoe.spark.TinyLm.VOCABULARY;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;

import io.github.dl4jmoe.spark.LocalSpark;
import io.github.dl4jmoe.spark.TinyLm;
import io.github.dl4jmoe.spark.data.TextWindows;
import io.github.dl4jmoe.stats.RoutingStatistics;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

class SparkRoutingStatisticsTest {

    private static final int BATCH = 4;
    private static JavaSparkContext sc;

    @BeforeAll
    static void startSpark() {
        sc = LocalSpark.start();
    }

    @AfterAll
    static void stopSpark() {
        sc.stop();
    }

    @Test
    void everyPartitionIsCountedAndTheSumEqualsOnePassOnTheDriver() {
        String text = TinyLm.text(2);
        JavaRDD<DataSet> data = TextWindows.rdd(sc, text, VOCABULARY, CONTEXT, LocalSpark.WORKERS);
        ComputationGraph net = TinyLm.network(3);

        List<Map<String, RoutingStatistics>> parts = SparkRoutingStatistics.perPartition(sc, net, data, BATCH);
        Map<String, RoutingStatistics> merged = SparkRoutingStatistics.merge(parts);

        assertEquals(LocalSpark.WORKERS, parts.size());
        RoutingStatistics first = parts.get(0).get(TOP_P_LAYER);
        RoutingStatistics second = parts.get(1).get(TOP_P_LAYER);
        assertTrue(first.tokens() > 0 && second.tokens() > 0, first + " / " + second);
        assertEquals(first.tokens() + second.tokens(), merged.get(TOP_P_LAYER).tokens());
        assertEquals(text.length() - 1, merged.get(TOP_P_LAYER).tokens(),
                "every predicted character, masked steps not");
        assertEquals(onThe(net, data.glom().collect()), merged.get(TOP_P_LAYER), "the same minibatches on the driver");
        assertTrue(merged.get(TOP_P_LAYER).meanExpertsPerToken() >= 1, merged.get(TOP_P_LAYER).toString());
    }

    /** Each partition's windows forward in minibatches of BATCH on the driver, top-p statistics summed. */
    private static RoutingStatistics onThe(ComputationGraph net, List<List<DataSet>> partitions) {
        RoutingStatistics sum = null;
        for (List<DataSet> partition : partitions) {
            for (int from = 0; from < partition.size(); from += BATCH) {
                DataSet batch = DataSet.merge(partition.subList(from, Math.min(partition.size(), from + BATCH)));
                net.output(false, new INDArray[] {batch.getFeatures()}, new INDArray[] {batch.getFeaturesMaskArray()},
                        new INDArray[] {batch.getLabelsMaskArray()});
                RoutingStatistics s = RoutingStatistics.of(net).get(TOP_P_LAYER);
                sum = sum == null ? s : sum.merge(s);
            }
        }
        return sum;
    }
}
