package io.github.dl4jmoe.spark.stats;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.github.dl4jmoe.stats.RoutingStatistics;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

/**
 * Routing statistics of every MoE layer of a network over all the data of an RDD: each partition runs its data
 * forward (inference mode, minibatches in partition order) through a copy of the network rebuilt from a broadcast of
 * its configuration and parameters, sums {@link RoutingStatistics} over its minibatches, and the driver merges the
 * partitions' sums with {@link RoutingStatistics#merge}. Token counts, histograms, loads and dropped pairs add up
 * exactly: the result equals one pass over all the data on a single machine, minibatch for minibatch.
 */
public final class SparkRoutingStatistics {

    private SparkRoutingStatistics() {
    }

    /** The merged statistics, keyed by layer name (see {@link RoutingStatistics#of(Model)}). */
    public static Map<String, RoutingStatistics> collect(JavaSparkContext sc, Model network, JavaRDD<DataSet> data,
                                                         int batchSize) {
        return merge(perPartition(sc, network, data, batchSize));
    }

    /**
     * The statistics of each partition, in partition order; a partition without data, or a network without MoE
     * layers, gives an empty map.
     *
     * @param network   a {@link ComputationGraph} with one input and one output, or a {@link MultiLayerNetwork}
     * @param batchSize examples per forward pass
     */
    public static List<Map<String, RoutingStatistics>> perPartition(JavaSparkContext sc, Model network,
                                                                    JavaRDD<DataSet> data, int batchSize) {
        if (batchSize < 1) {
            throw new IllegalArgumentException("SparkRoutingStatistics: batchSize must be at least 1, got "
                    + batchSize);
        }
        Broadcast<NetworkCopy> copy = sc.broadcast(NetworkCopy.of(network));
        try {
            return new ArrayList<>(data.mapPartitions((Iterator<DataSet> it) -> Collections.singletonList(
                    countPartition(copy.value(), it, batchSize)).iterator()).collect());
        } finally {
            copy.destroy();
        }
    }

    /** Layer by layer sums of {@code parts}; layers missing from a part count as absent there. */
    public static Map<String, RoutingStatistics> merge(List<Map<String, RoutingStatistics>> parts) {
        Map<String, RoutingStatistics> merged = new LinkedHashMap<>();
        for (Map<String, RoutingStatistics> part : parts) {
            part.forEach((layer, stats) -> merged.merge(layer, stats, RoutingStatistics::merge));
        }
        return merged;
    }

    /** On a worker: the partition's data forward in minibatches, statistics summed per layer. */
    private static Map<String, RoutingStatistics> countPartition(NetworkCopy copy, Iterator<DataSet> data,
                                                                int batchSize) {
        LinkedHashMap<String, RoutingStatistics> sums = new LinkedHashMap<>();
        Model net = data.hasNext() ? copy.restore() : null;
        List<DataSet> batch = new ArrayList<>(batchSize);
        while (data.hasNext()) {
            batch.add(data.next());
            if (batch.size() == batchSize || !data.hasNext()) {
                forward(net, batch.size() == 1 ? batch.get(0) : DataSet.merge(batch));
                RoutingStatistics.of(net).forEach((layer, stats) -> sums.merge(layer, stats, RoutingStatistics::merge));
                batch.clear();
            }
        }
        return sums;
    }

    private static void forward(Model net, DataSet ds) {
        if (net instanceof ComputationGraph graph) {
            graph.output(false, new INDArray[] {ds.getFeatures()}, masks(ds.getFeaturesMaskArray()),
                    masks(ds.getLabelsMaskArray()));
        } else {
            ((MultiLayerNetwork) net).output(ds.getFeatures(), false, ds.getFeaturesMaskArray(),
                    ds.getLabelsMaskArray());
        }
    }

    private static INDArray[] masks(INDArray mask) {
        return mask == null ? null : new INDArray[] {mask};
    }

    /**
     * What rebuilds a network on a worker: its JSON configuration and parameters (as DL4J's own training masters
     * broadcast it; the layer instances themselves hold state that is not serializable).
     */
    private record NetworkCopy(String json, boolean graph, INDArray params) implements Serializable {

        static NetworkCopy of(Model network) {
            if (network instanceof ComputationGraph g) {
                return new NetworkCopy(g.getConfiguration().toJson(), true, g.params());
            }
            if (network instanceof MultiLayerNetwork n) {
                return new NetworkCopy(n.getLayerWiseConfigurations().toJson(), false, n.params());
            }
            throw new IllegalArgumentException("SparkRoutingStatistics: expected a ComputationGraph or "
                    + "MultiLayerNetwork, got " + network.getClass().getName());
        }

        /** A network of its own: in local mode, tasks share the broadcast value, so the parameters are copied. */
        Model restore() {
            if (graph) {
                ComputationGraph g = new ComputationGraph(ComputationGraphConfiguration.fromJson(json));
                g.init(params, true);
                return g;
            }
            MultiLayerNetwork n = new MultiLayerNetwork(MultiLayerConfiguration.fromJson(json));
            n.init(params, true);
            return n;
        }
    }
}
