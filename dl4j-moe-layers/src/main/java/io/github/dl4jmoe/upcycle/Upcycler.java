package io.github.dl4jmoe.upcycle;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;

import io.github.dl4jmoe.experts.RoutedExperts;
import io.github.dl4jmoe.experts.SharedExpert;
import io.github.dl4jmoe.layers.DenseFeedForward;
import io.github.dl4jmoe.layers.FineRMoeLayer;
import io.github.dl4jmoe.layers.MoeFeedForward;
import io.github.dl4jmoe.runtime.BaseMoeLayer;
import org.deeplearning4j.exception.DL4JInvalidConfigException;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Turns the feed-forward blocks of a trained network - {@link DenseFeedForward} layers, or pairs of DL4J
 * {@link DenseLayer}s d -> dFf (activation) -> d (identity) - into MoE layers whose weights derive from the dense
 * ones (see {@link UpcycleMode}); every other parameter is copied and the original network is left untouched.
 *
 * <pre>
 * MultiLayerNetwork moe = Upcycler.of(UpcycleMode.PRESERVING).upcycle(dense, Map.of(2,
 *         new FineRMoeLayer.Builder().dFf(1024).inputGranularity(8).outputGranularity(2).outputExpansion(2)
 *                 .topInput(8).build()));
 * </pre>
 * Targets: {@link FineRMoeLayer} (AUTHORS, PRESERVING) and {@link MoeFeedForward} (AUTHORS and PRESERVING for
 * fine-grained experts, COPY for experts as wide as the dense block). Widths left unset on the target are taken from
 * the dense block, as are its updater, regularization and dropout. Experts have no biases, so the dense blocks must
 * have been trained with {@code hasBias(false)}. DL4J's GELU is an approximation of the exact GELU our experts use,
 * so a DenseLayer pair with GELU is not preserved exactly.
 *
 * <p>Continued training: the upcycled network has a fresh updater (no Adam moments), so it starts counting iterations
 * and epochs at 0. Carrying over the dense network's count (as its configuration would) makes Adam's bias correction
 * treat the new, near-zero moments as long averaged: its first hundreds of updates were 2 to 4 times Adam's normal
 * step, which threw a function-preserving upcycled model far from the dense optimum (README, Reproducing the papers).
 * Learning-rate schedules restart with the count as well.
 */
public final class Upcycler {

    /** Standard deviation of new router and shared-gate weights (the authors' converter). */
    public static final double ROUTER_STD = RoutedExperts.DEFAULT_ROUTER_STD;

    private final UpcycleMode mode;
    private double dropRatio;
    private long seed = 12345;

    private Upcycler(UpcycleMode mode) {
        this.mode = mode;
    }

    public static Upcycler of(UpcycleMode mode) {
        if (mode == null) {
            throw new IllegalArgumentException("Upcycler: mode must be set (AUTHORS, PRESERVING or COPY)");
        }
        return new Upcycler(mode);
    }

    /** Drop-Upcycling: re-initialise this fraction of each copied expert's intermediate units (COPY only). */
    public Upcycler dropUpcycling(double ratio) {
        if (mode != UpcycleMode.COPY || !(ratio >= 0 && ratio <= 1)) {
            throw new IllegalArgumentException("Upcycler: dropUpcycling needs mode COPY and a ratio in [0, 1], "
                    + "got mode " + mode + " and ratio " + ratio);
        }
        this.dropRatio = ratio;
        return this;
    }

    /** Seed for new router weights and Drop-Upcycling. */
    public Upcycler seed(long seed) {
        this.seed = seed;
        return this;
    }

    /**
     * @param replacements layer index of a {@link DenseFeedForward}, or of the first of two consecutive DL4J
     *                     {@link DenseLayer}s (d -> dFf -> d), -> the MoE layer that replaces it (a pair becomes one
     *                     layer)
     */
    public MultiLayerNetwork upcycle(MultiLayerNetwork dense, Map<Integer, ? extends BaseMoeLayer> replacements) {
        return upcycle(new MultiLayerEdit(dense), replacements);
    }

    /**
     * @param replacements name of a {@link DenseFeedForward} vertex, or of a DL4J {@link DenseLayer} whose only
     *                     consumer is another DenseLayer (d -> dFf -> d), -> the MoE layer that replaces it (a pair
     *                     becomes one vertex under the first name)
     */
    public ComputationGraph upcycle(ComputationGraph dense, Map<String, ? extends BaseMoeLayer> replacements) {
        return upcycle(new GraphEdit(dense), replacements);
    }

    /**
     * The one algorithm: each replaced block's config becomes its MoE target (widths and training settings taken
     * from the block), the second layers of DenseLayer pairs are removed, and in the built network every other
     * layer's parameters are copied while each target is filled from its dense block's weights.
     */
    private <K, N extends Model> N upcycle(NetworkEdit<K, N> net, Map<K, ? extends BaseMoeLayer> replacements) {
        Map<K, DenseSource> sources = new HashMap<>();
        Map<K, K> pairs = new HashMap<>();                                     // first of a pair -> second
        for (Map.Entry<K, ? extends BaseMoeLayer> r : replacements.entrySet()) {
            K key = r.getKey();
            org.deeplearning4j.nn.conf.layers.Layer layer = net.config(key);
            DenseSource source;
            if (layer instanceof DenseFeedForward ffn) {
                source = DenseSource.of(ffn);
            } else if (layer instanceof DenseLayer first) {
                K second = net.secondOfPair(key);
                source = DenseSource.of(first, (DenseLayer) net.config(second));
                pairs.put(key, second);
            } else {
                throw notUpcyclable(net.describe(key), layer);
            }
            net.replace(key, prepare(source, layer, r.getValue()));
            sources.put(key, source);
        }
        N moe = net.build(pairs);
        for (K key : net.keys()) {
            if (pairs.containsValue(key)) {
                continue;
            }
            Layer from = net.denseLayer(key);
            Layer to = net.upcycledLayer(key);
            DenseSource source = sources.get(key);
            if (source == null) {
                copy(from, to);
            } else {
                K second = pairs.get(key);
                fill(second == null ? source.withWeights(from.paramTable())
                        : source.withWeights(from.paramTable(), net.denseLayer(second).paramTable()), to,
                        from.getIndex());
            }
        }
        return moe;
    }

    static IllegalArgumentException notUpcyclable(String where, org.deeplearning4j.nn.conf.layers.Layer layer) {
        return new IllegalArgumentException("Upcycler: " + where + " is " + layer.getClass().getSimpleName()
                + "; only DenseFeedForward blocks and pairs of DenseLayers (d -> dFf -> d) can be upcycled");
    }

    /** Takes widths and training settings from the dense block, checks the target against the mode. */
    private BaseMoeLayer prepare(DenseSource source, org.deeplearning4j.nn.conf.layers.Layer from,
                                 BaseMoeLayer target) {
        BaseMoeLayer t = (BaseMoeLayer) target.clone();
        if (t.getNIn() <= 0) {
            t.setNIn(source.nIn());
        }
        if (t.getNOut() <= 0) {
            t.setNOut(source.nOut());
        }
        t.setLayerName(from.getLayerName());
        t.setIDropout(from.getIDropout());
        if (from instanceof BaseMoeLayer moe) {
            t.setUpdater(moe.getUpdater());
            t.setBiasUpdater(moe.getBiasUpdater());
            t.setRegularization(moe.getRegularization());
            t.setRegularizationBias(moe.getRegularizationBias());
            t.setGradientNormalization(moe.getGradientNormalization());
            t.setGradientNormalizationThreshold(moe.getGradientNormalizationThreshold());
            t.setWeightInit(moe.getWeightInit());
        } else if (from instanceof BaseLayer layer) {
            t.setUpdater(layer.getIUpdater());
            t.setBiasUpdater(layer.getBiasUpdater());
            t.setRegularization(layer.getRegularization());
            t.setRegularizationBias(layer.getRegularizationBias());
            t.setGradientNormalization(layer.getGradientNormalization());
            t.setGradientNormalizationThreshold(layer.getGradientNormalizationThreshold());
            t.setWeightInit(WeightInit.XAVIER);                 // only seeds parameters that are overwritten
        }
        t.validate();
        if (t.getNIn() != source.nIn() || t.getNOut() != source.nOut()) {
            throw invalid(t, "widths nIn=" + t.getNIn() + ", nOut=" + t.getNOut() + " differ from the dense block's "
                    + source.nIn() + ", " + source.nOut(), "leave them unset");
        }
        ExpertSlicing.check(mode, source, t);
        return t;
    }

    private static void copy(Layer from, Layer to) {
        if (from.numParams() > 0) {
            to.params().assign(from.params());
        }
    }

    private void fill(DenseSource source, Layer to, int index) {
        ExpertSlicing.fill(mode, source, (BaseMoeLayer) to.conf().getLayer(), to.paramTable(), dropRatio,
                new Random(seed + index));
    }

    static DL4JInvalidConfigException invalid(BaseMoeLayer target, String problem, String fix) {
        return new DL4JInvalidConfigException("Upcycler -> " + target.describe() + ": " + problem + " (" + fix + ")");
    }

    /** Router-style weights N(0, std^2). */
    static INDArray normal(INDArray like, double std, Random random) {
        INDArray out = Nd4j.create(like.dataType(), like.shape());
        for (long i = 0; i < out.length(); i++) {
            out.putScalar(i, random.nextGaussian() * std);
        }
        return out;
    }

    /** Columns [from, to) of a matrix. */
    static INDArray columns(INDArray m, long from, long to) {
        return m.get(NDArrayIndex.all(), NDArrayIndex.interval(from, to));
    }

    static INDArray rows(INDArray m, long from, long to) {
        return m.get(NDArrayIndex.interval(from, to), NDArrayIndex.all());
    }

    static boolean hasSharedExpert(Map<String, INDArray> target) {
        return target.containsKey(SharedExpert.W_UP);
    }
}
