package io.github.dl4jmoe.upcycle;

import java.util.Map;
import java.util.Random;

import io.github.dl4jmoe.experts.SharedExpert;
import io.github.dl4jmoe.layers.DenseFeedForward;
import io.github.dl4jmoe.layers.FineRMoeLayer;
import io.github.dl4jmoe.layers.MoeFeedForward;
import io.github.dl4jmoe.runtime.BaseMoeLayer;
import org.deeplearning4j.exception.DL4JInvalidConfigException;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Turns the {@link DenseFeedForward} blocks of a trained network into MoE layers whose weights derive from the dense
 * ones (see {@link UpcycleMode}); every other parameter is copied and the original network is left untouched.
 *
 * <pre>
 * MultiLayerNetwork moe = Upcycler.of(UpcycleMode.PRESERVING).upcycle(dense, Map.of(2,
 *         new FineRMoeLayer.Builder().dFf(1024).inputGranularity(8).outputGranularity(2).outputExpansion(2)
 *                 .topInput(8).build()));
 * </pre>
 * Targets: {@link FineRMoeLayer} (AUTHORS, PRESERVING) and {@link MoeFeedForward} (AUTHORS and PRESERVING for
 * fine-grained experts, COPY for experts as wide as the dense block). Widths left unset on the target are taken from
 * the dense block, as are its updater, regularization, weight init and dropout. Experts have no biases, so the dense
 * blocks must have been trained with {@code hasBias(false)}.
 */
public final class Upcycler {

    /** Standard deviation of new router and shared-gate weights (the authors' converter). */
    public static final double ROUTER_STD = 0.02;

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
            throw new IllegalArgumentException("Upcycler: dropUpcycling needs mode COPY and a ratio in [0, 1], got mode "
                    + mode + " and ratio " + ratio);
        }
        this.dropRatio = ratio;
        return this;
    }

    /** Seed for new router weights and Drop-Upcycling. */
    public Upcycler seed(long seed) {
        this.seed = seed;
        return this;
    }

    /** @param replacements layer index of a {@link DenseFeedForward} -> the MoE layer that replaces it */
    public MultiLayerNetwork upcycle(MultiLayerNetwork dense, Map<Integer, ? extends BaseMoeLayer> replacements) {
        MultiLayerConfiguration conf = MultiLayerConfiguration.fromJson(dense.getLayerWiseConfigurations().toJson());
        for (Map.Entry<Integer, ? extends BaseMoeLayer> r : replacements.entrySet()) {
            int index = r.getKey();
            if (index < 0 || index >= conf.getConfs().size()) {
                throw new IllegalArgumentException("Upcycler: no layer " + index + "; the network has "
                        + conf.getConfs().size() + " layers");
            }
            conf.getConf(index).setLayer(prepare(source(conf.getConf(index).getLayer(), "layer " + index), r.getValue()));
        }
        MultiLayerNetwork moe = new MultiLayerNetwork(conf);
        moe.init();
        for (int i = 0; i < dense.getnLayers(); i++) {
            fill(dense.getLayer(i), moe.getLayer(i), replacements.containsKey(i));
        }
        return moe;
    }

    /** @param replacements vertex name of a {@link DenseFeedForward} -> the MoE layer that replaces it */
    public ComputationGraph upcycle(ComputationGraph dense, Map<String, ? extends BaseMoeLayer> replacements) {
        ComputationGraphConfiguration conf = ComputationGraphConfiguration.fromJson(dense.getConfiguration().toJson());
        for (Map.Entry<String, ? extends BaseMoeLayer> r : replacements.entrySet()) {
            GraphVertex vertex = conf.getVertices().get(r.getKey());
            if (!(vertex instanceof LayerVertex layerVertex)) {
                throw new IllegalArgumentException("Upcycler: no layer vertex '" + r.getKey() + "'");
            }
            layerVertex.getLayerConf().setLayer(prepare(source(layerVertex.getLayerConf().getLayer(), r.getKey()), r.getValue()));
        }
        ComputationGraph moe = new ComputationGraph(conf);
        moe.init();
        for (Layer layer : dense.getLayers()) {
            String name = layer.conf().getLayer().getLayerName();
            fill(layer, moe.getLayer(name), replacements.containsKey(name));
        }
        return moe;
    }

    private static DenseFeedForward source(org.deeplearning4j.nn.conf.layers.Layer layer, String where) {
        if (!(layer instanceof DenseFeedForward dense)) {
            throw new IllegalArgumentException("Upcycler: " + where + " is " + layer.getClass().getSimpleName()
                    + "; only DenseFeedForward blocks can be upcycled");
        }
        if (dense.isHasBias()) {
            throw new IllegalArgumentException("Upcycler: " + dense.describe() + " has biases, which experts do not have; "
                    + "train the dense block with hasBias(false)");
        }
        return dense;
    }

    /** Takes widths and training settings from the dense block, checks the target against the mode. */
    private BaseMoeLayer prepare(DenseFeedForward dense, BaseMoeLayer target) {
        BaseMoeLayer t = (BaseMoeLayer) target.clone();
        if (t.getNIn() <= 0) {
            t.setNIn(dense.getNIn());
        }
        if (t.getNOut() <= 0) {
            t.setNOut(dense.getNOut());
        }
        t.setLayerName(dense.getLayerName());
        t.setUpdater(dense.getUpdater());
        t.setBiasUpdater(dense.getBiasUpdater());
        t.setRegularization(dense.getRegularization());
        t.setRegularizationBias(dense.getRegularizationBias());
        t.setGradientNormalization(dense.getGradientNormalization());
        t.setGradientNormalizationThreshold(dense.getGradientNormalizationThreshold());
        t.setWeightInit(dense.getWeightInit());
        t.setIDropout(dense.getIDropout());
        t.validate();
        if (t.getNIn() != dense.getNIn() || t.getNOut() != dense.getNOut()) {
            throw invalid(t, "widths nIn=" + t.getNIn() + ", nOut=" + t.getNOut() + " differ from the dense block's "
                    + dense.getNIn() + ", " + dense.getNOut(), "leave them unset");
        }
        ExpertSlicing.check(mode, dense, t);
        return t;
    }

    private void fill(Layer from, Layer to, boolean converted) {
        if (!converted) {
            if (from.numParams() > 0) {
                to.params().assign(from.params());
            }
            return;
        }
        DenseFeedForward dense = (DenseFeedForward) from.conf().getLayer();
        Map<String, INDArray> source = from.paramTable();
        Map<String, INDArray> target = to.paramTable();
        Random random = new Random(seed + from.getIndex());
        ExpertSlicing.fill(mode, dense, (BaseMoeLayer) to.conf().getLayer(), source, target, dropRatio, random);
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
