package io.github.dl4jmoe.stats;

import java.io.Serializable;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

import io.github.dl4jmoe.experts.RoutedExperts;
import io.github.dl4jmoe.runtime.ModelLayers;
import io.github.dl4jmoe.runtime.MoeLayerRuntime;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Routing statistics of one MoE layer for its latest forward pass (masked time steps excluded). Serializable, so that
 * distributed workers (dl4j-moe-spark) can send theirs to be merged.
 *
 * @param tokens                tokens routed
 * @param expertsPerTokenCounts entry j: tokens that selected exactly j experts ({@code j = 0..E})
 * @param load                  entry e: tokens that selected expert e
 * @param droppedPairs          selected (token, expert) pairs dropped for lack of capacity
 * @param capacity              slots per expert
 */
public record RoutingStatistics(long tokens, long[] expertsPerTokenCounts, long[] load, long droppedPairs,
                                long capacity) implements Serializable {

    /** Statistics of a layer's latest pass, if it is an MoE layer that has run. */
    public static Optional<RoutingStatistics> of(Layer layer) {
        if (!(layer instanceof MoeLayerRuntime runtime)) {
            return Optional.empty();
        }
        Map<String, INDArray> raw = runtime.statistics();
        INDArray perToken = raw.get(RoutedExperts.STAT_EXPERTS_PER_TOKEN);
        INDArray load = raw.get(RoutedExperts.STAT_LOAD);
        if (perToken == null || load == null) {
            return Optional.empty();
        }
        long[] histogram = new long[(int) load.length() + 1];
        for (double k : perToken.toDoubleVector()) {
            histogram[(int) Math.round(k)]++;
        }
        long[] loadCounts = Arrays.stream(load.toDoubleVector()).mapToLong(Math::round).toArray();
        return Optional.of(new RoutingStatistics(perToken.length(), histogram, loadCounts,
                Math.round(raw.get(RoutedExperts.STAT_DROPPED).getDouble(0)),
                Math.round(raw.get(RoutedExperts.STAT_CAPACITY).getDouble(0))));
    }

    /**
     * {@link #of(Model)} for a MultiLayerNetwork: every layer of it by name. A MultiLayerNetwork is also a DL4J
     * {@code Layer}, so without this overload {@code RoutingStatistics.of(net)} would pick {@link #of(Layer)}.
     */
    public static Map<String, RoutingStatistics> of(MultiLayerNetwork network) {
        return of((Model) network);
    }

    /**
     * Statistics of every MoE layer of a network that has run, keyed by layer name (DL4J names unnamed layers of a
     * MultiLayerNetwork "layer0", "layer1", ...).
     */
    public static Map<String, RoutingStatistics> of(Model model) {
        Map<String, RoutingStatistics> out = new LinkedHashMap<>();
        ModelLayers.byName(model).forEach((name, layer) -> of(layer).ifPresent(s -> out.put(name, s)));
        return out;
    }

    /**
     * The statistics of this pass and {@code other} together, as if both had been one pass: token counts, the
     * experts-per-token histogram, the per-expert load and the dropped pairs are summed, which is exact. Capacity is
     * summed as well, so it reads "slots each expert had over the passes" (with {@code droppedPairs} that is what
     * matters; a single pass's capacity is not recoverable from a merge).
     *
     * @throws IllegalArgumentException if the layers have different numbers of experts
     */
    public RoutingStatistics merge(RoutingStatistics other) {
        if (other.load.length != load.length) {
            throw new IllegalArgumentException("RoutingStatistics.merge: the statistics have " + load.length + " and "
                    + other.load.length + " experts (merge statistics of the same layer only)");
        }
        long[] histogram = new long[expertsPerTokenCounts.length];
        long[] mergedLoad = new long[load.length];
        for (int j = 0; j < histogram.length; j++) {
            histogram[j] = expertsPerTokenCounts[j] + other.expertsPerTokenCounts[j];
        }
        for (int e = 0; e < mergedLoad.length; e++) {
            mergedLoad[e] = load[e] + other.load[e];
        }
        return new RoutingStatistics(tokens + other.tokens, histogram, mergedLoad, droppedPairs + other.droppedPairs,
                capacity + other.capacity);
    }

    /** Mean number of experts per token. */
    public double meanExpertsPerToken() {
        double sum = 0;
        for (int j = 0; j < expertsPerTokenCounts.length; j++) {
            sum += (double) j * expertsPerTokenCounts[j];
        }
        return tokens == 0 ? 0 : sum / tokens;
    }

    /** Entropy (nats) of the load distribution {@code z_e = load_e / sum(load)}. */
    public double loadEntropy() {
        double total = Arrays.stream(load).sum();
        double h = 0;
        for (long l : load) {
            if (l > 0) {
                double z = l / total;
                h -= z * Math.log(z);
            }
        }
        return h;
    }

    /** {@code KL(z || uniform) = log E - H(z)} (He 2024, Table 2's "unevenness"); 0 for perfectly even load. */
    public double klToUniform() {
        return Math.log(load.length) - loadEntropy();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof RoutingStatistics s && tokens == s.tokens && droppedPairs == s.droppedPairs
                && capacity == s.capacity && Arrays.equals(expertsPerTokenCounts, s.expertsPerTokenCounts)
                && Arrays.equals(load, s.load);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * Long.hashCode(tokens) + Arrays.hashCode(load)) + Arrays.hashCode(expertsPerTokenCounts);
    }

    @Override
    public String toString() {
        return String.format("tokens=%d experts/token=%.3f histogram=%s load=%s dropped=%d capacity=%d "
                        + "loadEntropy=%.4f klToUniform=%.4f", tokens, meanExpertsPerToken(),
                Arrays.toString(expertsPerTokenCounts), Arrays.toString(load), droppedPairs, capacity, loadEntropy(),
                klToUniform());
    }
}
