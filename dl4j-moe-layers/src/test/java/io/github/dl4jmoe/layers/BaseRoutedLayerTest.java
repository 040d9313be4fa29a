package io.github.dl4jmoe.layers;

import static io.github.dl4jmoe.testutil.ConfigAssertions.assertRejected;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

import io.github.dl4jmoe.routing.ExpertBias;
import io.github.dl4jmoe.routing.Router;
import io.github.dl4jmoe.routing.TopKRouter;
import io.github.dl4jmoe.routing.TopPRouter;
import io.github.dl4jmoe.runtime.ExecutionMode;
import io.github.dl4jmoe.sequence.LayerNorm;
import io.github.dl4jmoe.stats.RoutingStatistics;
import io.github.dl4jmoe.testutil.GradientChecks;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.GradientNormalization;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.distribution.NormalDistribution;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.deeplearning4j.nn.weights.WeightInitDistribution;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.nd4j.shade.jackson.databind.JsonNode;
import org.nd4j.shade.jackson.databind.node.ObjectNode;

/**
 * The options every routed layer shares beyond its routing rule: auxiliary-loss-free balancing with an expert bias
 * (DeepSeek-V3) on top-k, top-p and FineRMoE routing, and the router initialisation.
 */
class BaseRoutedLayerTest {

    private static final int D = 6;
    private static final int E = 8;
    private static final int N_OUT = 2;
    private static final int MB = 24;
    private static final double RATE = 0.02;

    @BeforeEach
    void doublePrecision() {
        GradientChecks.useDoublePrecision();
        Nd4j.getRandom().setSeed(17);
    }

    private static MoeFeedForward.Builder moe(Router router) {
        return new MoeFeedForward.Builder().numExperts(E).expertHidden(3).router(router).loadBalanceCoefficient(0);
    }

    /** G_I = 2, G_O = 2, R_O = 2: 8 experts, top-1 in each output group. */
    private static FineRMoeLayer.Builder fineR() {
        return new FineRMoeLayer.Builder().dFf(8).inputGranularity(2).outputGranularity(2).outputExpansion(2)
                .loadBalanceCoefficient(0);
    }

    /** One of each routing rule with the expert bias on. */
    private static List<BaseRoutedLayer> biasedLayers() {
        return List.of(moe(new TopKRouter(2)).expertBias(true).biasUpdateRate(RATE).build(),
                moe(new TopPRouter(0.5, false, 4)).expertBias(true).biasUpdateRate(RATE).build(),
                fineR().expertBias(true).biasUpdateRate(RATE).build());
    }

    private static MultiLayerNetwork network(Layer layer, NeuralNetConfiguration.Builder base) {
        return network(layer, base, D);
    }

    private static MultiLayerNetwork network(Layer layer, NeuralNetConfiguration.Builder base, int nIn) {
        MultiLayerConfiguration conf = base.list()
                .layer(layer)
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(N_OUT)
                        .activation(Activation.IDENTITY).build())
                .setInputType(InputType.feedForward(nIn))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    private static DataSet data(long seed) {
        Nd4j.getRandom().setSeed(seed);
        return new DataSet(Nd4j.randn(DataType.DOUBLE, MB, D), Nd4j.randn(DataType.DOUBLE, MB, N_OUT));
    }

    private static INDArray bias(MultiLayerNetwork net) {
        return net.getLayer(0).getParam(BaseRoutedLayer.EXPERT_BIAS);
    }

    private static Layer withMode(BaseRoutedLayer layer, ExecutionMode mode) {
        BaseRoutedLayer copy = (BaseRoutedLayer) layer.clone();
        copy.setExecutionMode(mode);
        return copy;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Auxiliary-loss-free balancing

    @Test
    void eachTrainingStepMovesEachBiasByTheRateTowardsTheMeanLoad() {
        for (BaseRoutedLayer layer : biasedLayers()) {
            for (ExecutionMode mode : ExecutionMode.values()) {
                // Adam, l2 and a clip far below the gradients' norm: none of them may touch the bias's step
                MultiLayerNetwork net = network(withMode(layer, mode), GradientChecks.doubleNetwork(3)
                        .updater(new Adam(0.1)).l2(0.5)
                        .gradientNormalization(GradientNormalization.ClipL2PerLayer)
                        .gradientNormalizationThreshold(1e-4));
                INDArray expected = Nd4j.zeros(DataType.DOUBLE, 1, E);
                for (int step = 0; step < 3; step++) {
                    net.fit(data(step));
                    long[] load = RoutingStatistics.of(net.getLayer(0)).orElseThrow().load();
                    double mean = java.util.Arrays.stream(load).sum() / (double) E;
                    for (int e = 0; e < E; e++) {
                        expected.putScalar(0, e, expected.getDouble(0, e) + RATE * Math.signum(mean - load[e]));
                    }
                }
                String what = layer.getClass().getSimpleName() + " " + mode;
                assertNotEquals(0.0, expected.amaxNumber().doubleValue(), what);
                assertArrayEquals(expected.toDoubleVector(), bias(net).toDoubleVector(), 1e-15, what);
            }
        }
    }

    /**
     * Expert 0 wins almost every token at first: the inputs share a direction the router favours for it. The router
     * is XAVIER so that tokens differ in their probabilities as a trained router's do (from N(0, 0.02) every token
     * starts near the same probabilities, and one bias step moves them all at once). The network's updater is NoOp,
     * so only the bias moves.
     */
    private static MultiLayerNetwork skewed(BaseRoutedLayer layer, double rate) {
        BaseRoutedLayer copy = (BaseRoutedLayer) layer.clone();
        copy.setRouterWeightInit(WeightInit.XAVIER.getWeightInitFunction());
        copy.setBiasUpdateRate(rate);
        MultiLayerNetwork net = network(copy, GradientChecks.doubleNetwork(5));
        net.getLayer(0).getParam(BaseRoutedLayer.W_ROUTER).getColumn(0).addi(0.2);
        return net;
    }

    /**
     * Fresh batches from one distribution, the network's updater NoOp so that only the bias moves: the load averaged
     * over the last steps is far more even than the first step's and the overloaded expert gets fewer tokens. (The
     * sign rule moves all overloaded experts by the same step, so single steps oscillate; the average is what it
     * balances.)
     */
    @Test
    void selectionShiftsTowardsUnderloadedExperts() {
        for (BaseRoutedLayer layer : biasedLayers()) {
            // in units of the scores the rule ranks: probabilities for top-k and top-p, logits for FineRMoE
            MultiLayerNetwork net = skewed(layer, layer instanceof FineRMoeLayer ? 0.05 : 0.003);
            double[] first = null;
            double[] late = new double[E];
            int steps = 100;
            int averaged = 20;
            for (int step = 0; step < steps; step++) {
                DataSet batch = data(100 + step);
                batch.getFeatures().addi(1.0);
                net.fit(batch);
                long[] load = RoutingStatistics.of(net.getLayer(0)).orElseThrow().load();
                if (first == null) {
                    first = java.util.Arrays.stream(load).asDoubleStream().toArray();
                }
                for (int e = 0; step >= steps - averaged && e < E; e++) {
                    late[e] += load[e] / (double) averaged;
                }
            }
            String what = layer.getClass().getSimpleName() + ": load " + java.util.Arrays.toString(first) + " -> "
                    + java.util.Arrays.toString(late) + ", bias " + bias(net);
            assertTrue(first[0] > 2 * first[1], "expert 0 starts overloaded: " + what);
            assertTrue(late[0] < first[0], what);
            assertTrue(klToUniform(late) < 0.5 * klToUniform(first), what);
        }
    }

    private static double klToUniform(double[] load) {
        double total = java.util.Arrays.stream(load).sum();
        double kl = 0;
        for (double l : load) {
            kl += l == 0 ? 0 : l / total * Math.log(l / total * load.length);
        }
        return kl;
    }

    @Test
    void aUniformBiasLeavesTheOutputUnchanged() {
        DataSet batch = data(2);
        for (BaseRoutedLayer layer : biasedLayers()) {
            MultiLayerNetwork net = network(layer, GradientChecks.doubleNetwork(7));
            INDArray before = net.output(batch.getFeatures());
            bias(net).assign(0.4);
            assertEquals(before, net.output(batch.getFeatures()), layer.getClass().getSimpleName());
        }
    }

    @Test
    void theBiasPicksTheExpertsAndTheProbabilitiesStillGateThem() {
        MoeFeedForward conf = moe(new TopKRouter(2)).expertBias(true).build();
        MultiLayerNetwork net = network(conf, GradientChecks.doubleNetwork(7));
        INDArray x = data(3).getFeatures();
        double[] b = Nd4j.randn(DataType.DOUBLE, E).muli(0.1).toDoubleVector();
        bias(net).assign(Nd4j.createFromArray(b).reshape(1, E));
        INDArray actual = net.output(x);

        // by hand: the two largest P + b choose, P gates
        INDArray expected = Nd4j.zeros(DataType.DOUBLE, MB, N_OUT);
        INDArray p = org.nd4j.linalg.ops.transforms.Transforms.softmax(
                x.mmul(net.getLayer(0).getParam(BaseRoutedLayer.W_ROUTER)), true);
        for (int t = 0; t < MB; t++) {
            double[] scores = p.getRow(t).toDoubleVector();
            for (int e = 0; e < E; e++) {
                scores[e] += b[e];
            }
            Integer[] order = java.util.stream.IntStream.range(0, E).boxed().toArray(Integer[]::new);
            java.util.Arrays.sort(order, (i, j) -> Double.compare(scores[j], scores[i]));
            double[] gates = new double[E];
            gates[order[0]] = p.getDouble(t, order[0]);
            gates[order[1]] = p.getDouble(t, order[1]);
            expected.getRow(t).assign(outputWithGates(net, x.getRow(t, true), gates));
        }
        assertEquals(0.0, expected.sub(actual).amaxNumber().doubleValue(), 1e-12);
    }

    /** The network's output for one token whose experts run with the given gates. */
    private static INDArray outputWithGates(MultiLayerNetwork net, INDArray xt, double[] gates) {
        INDArray h = Nd4j.zeros(DataType.DOUBLE, 1, D);
        for (int e = 0; e < E; e++) {
            if (gates[e] != 0) {
                INDArray up = xt.mmul(expert(net, BaseRoutedLayer.W_EXPERT_UP, e));
                INDArray gate = xt.mmul(expert(net, BaseRoutedLayer.W_EXPERT_GATE, e));
                INDArray hidden = gate.mul(org.nd4j.linalg.ops.transforms.Transforms.sigmoid(gate, true)).mul(up);
                h.addi(hidden.mmul(expert(net, BaseRoutedLayer.W_EXPERT_DOWN, e)).mul(gates[e]));
            }
        }
        return h.mmul(net.getLayer(1).getParam("W")).addRowVector(net.getLayer(1).getParam("b"));
    }

    private static INDArray expert(MultiLayerNetwork net, String key, int e) {
        return net.getLayer(0).getParam(key).dup().slice(e);
    }

    @Test
    void inferenceScoringGradientsAndGradientChecksLeaveTheBiasAlone() {
        DataSet batch = data(4);
        for (BaseRoutedLayer layer : biasedLayers()) {
            MultiLayerNetwork net = network(layer, GradientChecks.doubleNetwork(9));
            for (int step = 0; step < 3; step++) {
                net.fit(data(10 + step));
            }
            INDArray trained = bias(net).dup();
            String what = layer.getClass().getSimpleName();
            assertNotEquals(0.0, trained.amaxNumber().doubleValue(), what);
            net.output(batch.getFeatures());
            net.score(batch, true);
            net.calculateGradients(batch.getFeatures(), batch.getLabels(), null, null);
            net.setInput(batch.getFeatures());
            net.setLabels(batch.getLabels());
            net.computeGradientAndScore();
            assertTrue(GradientChecks.check(net, batch.getFeatures(), batch.getLabels(), null, null,
                    Set.of("0_" + BaseRoutedLayer.EXPERT_BIAS)), "gradient check with a trained bias: " + what);
            assertEquals(trained, bias(net), what);
        }
    }

    @Test
    void gradientCheckWithANonZeroBiasOnSequenceInputWithAMask() {
        for (BaseRoutedLayer layer : biasedLayers()) {
            MultiLayerConfiguration conf = GradientChecks.doubleNetwork(13).list()
                    .layer(layer)
                    .layer(new org.deeplearning4j.nn.conf.layers.RnnOutputLayer.Builder(
                            LossFunctions.LossFunction.MSE).nOut(N_OUT).activation(Activation.IDENTITY).build())
                    .setInputType(InputType.recurrent(D))
                    .build();
            MultiLayerNetwork net = new MultiLayerNetwork(conf);
            net.init();
            bias(net).assign(Nd4j.randn(DataType.DOUBLE, 1, E).muli(0.05));
            INDArray mask = Nd4j.ones(DataType.DOUBLE, 3, 4);
            mask.putScalar(1, 3, 0);
            assertTrue(GradientChecks.check(net, Nd4j.randn(DataType.DOUBLE, 3, D, 4),
                    Nd4j.randn(DataType.DOUBLE, 3, N_OUT, 4), mask, mask,
                    Set.of("0_" + BaseRoutedLayer.EXPERT_BIAS)), layer.getClass().getSimpleName());
        }
    }

    @Test
    void theBiasSurvivesModelSerializerAndTrainingResumesExactly(@TempDir Path dir) throws Exception {
        for (BaseRoutedLayer layer : biasedLayers()) {
            String what = layer.getClass().getSimpleName();
            MultiLayerNetwork net = network(layer, GradientChecks.doubleNetwork(21).updater(new Adam(0.01)));
            for (int step = 0; step < 3; step++) {
                net.fit(data(30 + step));
            }
            assertNotEquals(0.0, bias(net).amaxNumber().doubleValue(), what);
            File file = dir.resolve("mln.zip").toFile();
            ModelSerializer.writeModel(net, file, true);
            MultiLayerNetwork restored = ModelSerializer.restoreMultiLayerNetwork(file, true);
            assertEquals(bias(net), bias(restored), what);
            INDArray x = data(40).getFeatures();
            assertEquals(net.output(x), restored.output(x), what);
            for (int step = 0; step < 2; step++) {
                net.fit(data(50 + step));
                restored.fit(data(50 + step));
            }
            assertEquals(net.params(), restored.params(), what + ": parameters and bias after resuming");
        }
    }

    @Test
    void theBiasSurvivesModelSerializerInAComputationGraph(@TempDir Path dir) throws Exception {
        for (BaseRoutedLayer layer : biasedLayers()) {
            String what = layer.getClass().getSimpleName();
            ComputationGraphConfiguration conf = GradientChecks.doubleNetwork(23).updater(new Adam(0.01))
                    .graphBuilder()
                    .addInputs("in")
                    .addLayer("moe", layer, "in")
                    .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(N_OUT)
                            .activation(Activation.IDENTITY).build(), "moe")
                    .setOutputs("out")
                    .setInputTypes(InputType.feedForward(D))
                    .build();
            ComputationGraph net = new ComputationGraph(conf);
            net.init();
            for (int step = 0; step < 3; step++) {
                net.fit(data(60 + step));
            }
            INDArray trained = net.getLayer("moe").getParam(BaseRoutedLayer.EXPERT_BIAS);
            assertNotEquals(0.0, trained.amaxNumber().doubleValue(), what);
            File file = dir.resolve("graph.zip").toFile();
            ModelSerializer.writeModel(net, file, true);
            ComputationGraph restored = ModelSerializer.restoreComputationGraph(file, true);
            assertEquals(trained, restored.getLayer("moe").getParam(BaseRoutedLayer.EXPERT_BIAS), what);
            INDArray x = data(70).getFeatures();
            assertEquals(net.outputSingle(x), restored.outputSingle(x), what);
            net.fit(data(71));
            restored.fit(data(71));
            assertEquals(net.params(), restored.params(), what + ": parameters and bias after resuming");
        }
    }

    @Test
    void optionsRoundTripThroughJsonAndOldJsonLoadsWithTheBiasOffAndTheDefaultRouterInit() throws Exception {
        BaseRoutedLayer[] layers = {moe(new TopPRouter(0.4)).expertBias(true).biasUpdateRate(0.01)
                .routerWeightInit(new WeightInitDistribution(new NormalDistribution(0, 0.05))).build(),
            fineR().expertBias(true).routerWeightInit(WeightInit.XAVIER).build()};
        for (BaseRoutedLayer layer : layers) {
            MultiLayerConfiguration conf = network(layer, GradientChecks.doubleNetwork(1)).getLayerWiseConfigurations();
            MultiLayerConfiguration back = MultiLayerConfiguration.fromJson(conf.toJson());
            assertEquals(conf.getConf(0).getLayer(), back.getConf(0).getLayer());

            JsonNode tree = NeuralNetConfiguration.mapper().readTree(conf.toJson());
            // the three new fields, and the bias's entry among the parameter shapes
            int removed = removeFields(tree, Set.of("expertBias", "biasUpdateRate", "routerWeightInit"));
            assertTrue(removed >= 3, "the new fields are in the JSON: " + removed);
            MultiLayerConfiguration old = MultiLayerConfiguration.fromJson(
                    NeuralNetConfiguration.mapper().writeValueAsString(tree));
            BaseRoutedLayer loaded = (BaseRoutedLayer) old.getConf(0).getLayer();
            assertFalse(loaded.isExpertBias());
            assertEquals(ExpertBias.DEFAULT_UPDATE_RATE, loaded.getBiasUpdateRate());
            assertEquals(BaseRoutedLayer.defaultRouterWeightInit(), loaded.getRouterWeightInit());
            MultiLayerNetwork net = new MultiLayerNetwork(old);
            net.init();
            assertFalse(net.getLayer(0).paramTable().containsKey(BaseRoutedLayer.EXPERT_BIAS));
        }
    }

    private static int removeFields(JsonNode node, Set<String> names) {
        int removed = 0;
        if (node instanceof ObjectNode object) {
            for (String name : names) {
                removed += object.remove(name) != null ? 1 : 0;
            }
        }
        for (Iterator<JsonNode> it = node.elements(); it.hasNext(); ) {
            removed += removeFields(it.next(), names);
        }
        return removed;
    }

    @Test
    void invalidBalancingAndInitOptionsAreRejected() {
        for (double bad : new double[] {-1e-3, Double.NaN, Double.POSITIVE_INFINITY}) {
            assertRejected(() -> moe(new TopKRouter(2)).name("moe").nIn(D).expertBias(true).biasUpdateRate(bad)
                    .build(), "MoeFeedForward(name=moe)", "biasUpdateRate", "finite and >= 0", "got " + bad, "0.001");
        }
        assertRejected(() -> fineR().name("f").nIn(D).expertBias(true).biasUpdateRate(-0.5).build(),
                "FineRMoeLayer(name=f)", "biasUpdateRate", "got -0.5");
        assertRejected(() -> moe(new TopKRouter(2)).nIn(D).biasUpdateRate(0.01).build(), "biasUpdateRate",
                "without the expert bias", "got 0.01", "expertBias(true)");
        assertRejected(() -> moe(new TopKRouter(2)).nIn(D).routerWeightInit((WeightInit) null).build(),
                "routerWeightInit", "must be set", "got null");
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Router initialisation

    /** Rows with mean 0 and variance 1, as a LayerNorm without affine parameters outputs. */
    private static INDArray layerNormed(int n, int d) {
        INDArray x = Nd4j.randn(DataType.DOUBLE, n, d);
        INDArray centred = x.subColumnVector(x.mean(true, 1));
        return centred.divColumnVector(centred.std(false, true, 1));
    }

    @Test
    void routerLogitsAfterALayerNormStartNearTwoHundredthsTimesRootD() {
        int d = 256;
        List<Double> stds = new ArrayList<>();
        for (WeightInit routerInit : new WeightInit[] {null, WeightInit.XAVIER}) {
            MoeFeedForward.Builder b = new MoeFeedForward.Builder().numExperts(E).expertHidden(4);
            MoeFeedForward conf = (routerInit == null ? b : b.routerWeightInit(routerInit)).build();
            MultiLayerNetwork net = network(conf, GradientChecks.doubleNetwork(3), d);
            INDArray router = net.getLayer(0).getParam(BaseRoutedLayer.W_ROUTER);
            INDArray logits = layerNormed(2048, d).mmul(router);
            stds.add(logits.stdNumber().doubleValue());
            if (routerInit == null) {
                assertEquals(0.02, router.stdNumber().doubleValue(), 0.002, "router ~ N(0, 0.02)");
                assertEquals(Math.sqrt(2.0 / (d + 4)), net.getLayer(0).getParam(BaseRoutedLayer.W_EXPERT_UP)
                        .stdNumber().doubleValue(), 0.01, "experts keep the layer's weight init (XAVIER)");
            }
        }
        assertEquals(0.02 * Math.sqrt(d), stds.get(0), 0.1 * 0.02 * Math.sqrt(d), "N(0, 0.02): " + stds);
        assertEquals(Math.sqrt(2.0 * d / (d + E)), stds.get(1), 0.15, "XAVIER, the old default: " + stds);
    }

    @Test
    void aFreshTopPLayerUsesSeveralExpertsPerTokenAtStepZero() {
        int d = 64;
        double[] mean = new double[2];
        for (int i = 0; i < 2; i++) {
            MoeFeedForward.Builder b = new MoeFeedForward.Builder().numExperts(E).expertHidden(8)
                    .router(new TopPRouter(TopPRouter.DEFAULT_P));
            MoeFeedForward conf = (i == 0 ? b : b.routerWeightInit(WeightInit.XAVIER)).build();
            MultiLayerConfiguration c = GradientChecks.doubleNetwork(29).list()
                    .layer(new LayerNorm.Builder().build())
                    .layer(conf)
                    .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(N_OUT)
                            .activation(Activation.IDENTITY).build())
                    .setInputType(InputType.feedForward(d))
                    .build();
            MultiLayerNetwork net = new MultiLayerNetwork(c);
            net.init();
            net.output(Nd4j.randn(DataType.DOUBLE, 512, d).muli(3).addi(1));
            mean[i] = RoutingStatistics.of(net.getLayer(1)).orElseThrow().meanExpertsPerToken();
        }
        // near-uniform probabilities (about 1/8 each) need 3 or 4 experts to pass p = 0.4; XAVIER's (std ~1.3) fewer
        assertTrue(mean[0] > 2.5, "N(0, 0.02) router: " + mean[0] + " experts per token");
        assertTrue(mean[1] < 2, "XAVIER router: " + mean[1] + " vs " + mean[0]);
    }
}
