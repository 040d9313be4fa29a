package io.github.dl4jmoe.stats;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

import io.github.dl4jmoe.peer.PeerKeys;
import io.github.dl4jmoe.peer.ProductKeyLayer;
import io.github.dl4jmoe.peer.RetrievalCounts;
import io.github.dl4jmoe.runtime.ModelLayers;
import io.github.dl4jmoe.runtime.MoeLayerRuntime;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Expert usage of one PEER layer in its latest pass (He 2024, Table 2): the fraction of the N experts retrieved at
 * least once, the unevenness {@code KL(z || uniform) = log N + sum_i z_i log z_i} of the retrieval distribution z,
 * and the fraction each head used.
 *
 * <p>Usage of several passes cannot be merged from these fields: the used fractions count distinct experts, whose
 * overlap between passes is unknown, and the unevenness needs every expert's retrieval count. Only
 * {@code retrievals} adds up. For the exact usage of several passes, collect their {@link #retrievedExperts(Layer)}
 * and pass all rows to {@link #of(int[][], long, int)}.
 *
 * @param numExperts     N
 * @param retrievals     (token, head, slot) retrievals counted
 * @param usedFraction   distinct experts retrieved / N
 * @param unevenness     KL of the retrieval counts to uniform, in nats
 * @param perHeadUsage   distinct experts retrieved by each head / N
 */
public record ExpertUsage(long numExperts, long retrievals, double usedFraction, double unevenness,
                          double[] perHeadUsage) {

    /** Usage of a layer's latest pass, if it is a PEER layer that has run. */
    public static Optional<ExpertUsage> of(Layer layer) {
        return retrievedExperts(layer).map(experts -> {
            ProductKeyLayer conf = (ProductKeyLayer) layer.conf().getLayer();
            return of(experts, conf.getNumExperts(), conf.getHeads());
        });
    }

    /**
     * The expert ids a PEER layer retrieved in its latest pass, {@code [tokens * heads][k]} with row
     * {@code t * heads + head}, if it is a PEER layer that has run. Rows of several passes, concatenated, give their
     * exact joint usage through {@link #of(int[][], long, int)}.
     */
    public static Optional<int[][]> retrievedExperts(Layer layer) {
        if (!(layer instanceof MoeLayerRuntime runtime) || !(layer.conf().getLayer() instanceof ProductKeyLayer)) {
            return Optional.empty();
        }
        INDArray experts = runtime.statistics().get(PeerKeys.STAT_EXPERTS);
        return experts == null ? Optional.empty() : Optional.of(rows(experts));
    }

    /**
     * The rows of a {@code [rows, k]} matrix, read in one bulk copy: M2.1's {@code toIntMatrix()} builds a tensor view
     * per row, which took seconds for a batch's {@code 8192 x 16} retrievals.
     */
    private static int[][] rows(INDArray matrix) {
        int k = (int) matrix.size(1);
        int[] all = matrix.dup('c').data().asInt();
        int[][] out = new int[all.length / k][];
        for (int r = 0; r < out.length; r++) {
            out[r] = Arrays.copyOfRange(all, r * k, (r + 1) * k);
        }
        return out;
    }

    /**
     * {@link #of(Model)} for a MultiLayerNetwork: every layer of it by name. A MultiLayerNetwork is also a DL4J
     * {@code Layer}, so without this overload {@code ExpertUsage.of(net)} would pick {@link #of(Layer)}.
     */
    public static Map<String, ExpertUsage> of(MultiLayerNetwork network) {
        return of((Model) network);
    }

    /** Usage of every PEER layer of a network that has run, keyed by layer name. */
    public static Map<String, ExpertUsage> of(Model model) {
        Map<String, ExpertUsage> out = new LinkedHashMap<>();
        ModelLayers.byName(model).forEach((name, layer) -> of(layer).ifPresent(u -> out.put(name, u)));
        return out;
    }

    /**
     * @param experts retrieved ids {@code [tokens * heads][k]}, row {@code t * heads + head}
     */
    public static ExpertUsage of(int[][] experts, long numExperts, int heads) {
        RetrievalCounts counts = RetrievalCounts.of(experts, heads);
        double[] headUsage = new double[heads];
        for (int h = 0; h < heads; h++) {
            headUsage[h] = counts.distinctInHead(h) / (double) numExperts;
        }
        return new ExpertUsage(numExperts, counts.total(), counts.distinct() / (double) numExperts,
                counts.unevenness(numExperts), headUsage);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ExpertUsage u && numExperts == u.numExperts && retrievals == u.retrievals
                && usedFraction == u.usedFraction && unevenness == u.unevenness
                && java.util.Arrays.equals(perHeadUsage, u.perHeadUsage);
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(numExperts, retrievals, usedFraction, unevenness) * 31
                + java.util.Arrays.hashCode(perHeadUsage);
    }

    @Override
    public String toString() {
        return String.format("experts=%d retrievals=%d used=%.4f unevenness=%.4f perHead=%s", numExperts, retrievals,
                usedFraction, unevenness, java.util.Arrays.toString(perHeadUsage));
    }
}
