package io.github.dl4jmoe.layers;

import static io.github.dl4jmoe.testutil.ConfigAssertions.assertRejected;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import io.github.dl4jmoe.routing.ReferenceRouting;
import io.github.dl4jmoe.routing.Router;
import io.github.dl4jmoe.routing.TopKRouter;
import io.github.dl4jmoe.routing.TopPRouter;
import io.github.dl4jmoe.runtime.MoeLayerRuntime;
import io.github.dl4jmoe.stats.RoutingStatistics;
import io.github.dl4jmoe.testutil.GradientChecks;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.nd4j.linalg.ops.transforms.Transforms;

class MoeFeedForwardTest {

    private static final int D = 6;
    private static final int E = 5;
    private static final int H = 3;
    private static final int N_OUT = 2;
    private static final int MB = 6;
    private static final int T = 4;

    @BeforeEach
    void doublePrecision() {
        GradientChecks.useDoublePrecision();
        Nd4j.getRandom().setSeed(99);
    }

    private static MoeFeedForward.Builder moe(Router router) {
        return new MoeFeedForward.Builder().numExperts(E).expertHidden(H).router(router);
    }

    /** DenseLayer below (so input gradients are checked too), the MoE layer, a regression head. */
    private static MultiLayerNetwork network2d(MoeFeedForward layer) {
        MultiLayerConfiguration conf = GradientChecks.doubleNetwork(11).list()
                .layer(new DenseLayer.Builder().nOut(D).activation(Activation.TANH).build())
                .layer(layer)
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(N_OUT)
                        .activation(Activation.IDENTITY).build())
                .setInputType(InputType.feedForward(D))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    private static MultiLayerNetwork network3d(MoeFeedForward layer) {
        MultiLayerConfiguration conf = GradientChecks.doubleNetwork(11).list()
                .layer(layer)
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(N_OUT)
                        .activation(Activation.IDENTITY).build())
                .setInputType(InputType.recurrent(D))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    /** Strong auxiliary coefficients so their gradients are not lost in the tolerance. */
    private static MoeFeedForward.Builder withAux(MoeFeedForward.Builder b) {
        return b.loadBalanceCoefficient(0.3).entropyCoefficient(0.2).zLossCoefficient(0.1);
    }

    @Test
    void gradientCheckTopK2d() {
        MultiLayerNetwork net = network2d(withAux(moe(new TopKRouter(2))).numSharedExperts(1).sharedGate(true).build());
        assertTrue(GradientChecks.check(net, Nd4j.randn(DataType.DOUBLE, MB, D),
                Nd4j.randn(DataType.DOUBLE, MB, N_OUT)));
    }

    @Test
    void gradientCheckTopP2d() {
        MultiLayerNetwork net = network2d(withAux(moe(new TopPRouter(0.5))).activation(FfnActivation.TANH).build());
        assertTrue(GradientChecks.check(net, Nd4j.randn(DataType.DOUBLE, MB, D),
                Nd4j.randn(DataType.DOUBLE, MB, N_OUT)));
    }

    @Test
    void gradientCheckTopPRenormalisedWithCapacityDrops() {
        MultiLayerNetwork net = network2d(withAux(moe(new TopPRouter(0.6, true, 3))).capacityFactor(0.75).build());
        assertTrue(GradientChecks.check(net, Nd4j.randn(DataType.DOUBLE, MB, D),
                Nd4j.randn(DataType.DOUBLE, MB, N_OUT)));
    }

    private static INDArray mask() {
        INDArray mask = Nd4j.ones(DataType.DOUBLE, MB, T);
        mask.getRow(0).assign(0);
        mask.get(NDArrayIndex.point(3), NDArrayIndex.interval(1, T)).assign(0);
        return mask;
    }

    @Test
    void gradientCheck3dWithMaskTopKAndTopP() {
        for (Router router : new Router[] {new TopKRouter(2, true), new TopPRouter(0.5)}) {
            MultiLayerNetwork net = network3d(withAux(moe(router)).build());
            INDArray mask = mask();
            assertTrue(GradientChecks.check(net, Nd4j.randn(DataType.DOUBLE, MB, D, T),
                    Nd4j.randn(DataType.DOUBLE, MB, N_OUT, T), mask, mask), router.toString());
        }
    }

    /** The layer's output for tokens {@code x [n, D]}, computed token by token in plain ND4J. */
    static INDArray reference(INDArray x, MoeFeedForward conf, Map<String, INDArray> p) {
        INDArray probs = Transforms.softmax(x.mmul(p.get(MoeFeedForward.W_ROUTER)), true);
        INDArray y = Nd4j.zeros(DataType.DOUBLE, x.size(0), conf.getNOut());
        for (int t = 0; t < x.size(0); t++) {
            INDArray xt = x.getRow(t, true);
            double[] gates = ReferenceRouting.gates(conf.getRouter(), probs.getRow(t).toDoubleVector());
            for (int e = 0; e < gates.length; e++) {
                if (gates[e] != 0) {
                    INDArray up = xt.mmul(slice(p.get(MoeFeedForward.W_EXPERT_UP), e));
                    INDArray gate = xt.mmul(slice(p.get(MoeFeedForward.W_EXPERT_GATE), e));
                    INDArray h = gate.mul(Transforms.sigmoid(gate, true)).mul(up);          // SwiGLU
                    y.getRow(t, true).addi(h.mmul(slice(p.get(MoeFeedForward.W_EXPERT_DOWN), e)).mul(gates[e]));
                }
            }
        }
        return y;
    }

    private static INDArray slice(INDArray rank3, int e) {
        return rank3.dup().get(NDArrayIndex.point(e), NDArrayIndex.all(), NDArrayIndex.all());
    }

    @Test
    void matchesPerTokenReferenceLoop() {
        Nd4j.getRandom().setSeed(1);
        INDArray x = Nd4j.randn(DataType.DOUBLE, 40, D);
        for (Router router : new Router[] {new TopKRouter(2), new TopKRouter(3, true), new TopPRouter(0.4),
                new TopPRouter(0.8, true, 3)}) {
            MultiLayerNetwork net = network2d(moe(router).nOut(4).build());
            MoeFeedForward conf = (MoeFeedForward) net.getLayer(1).conf().getLayer();
            INDArray tokens = net.feedForward(x, false).get(1);
            INDArray actual = net.feedForward(x, false).get(2);
            INDArray expected = reference(tokens, conf, net.getLayer(1).paramTable());
            assertEquals(0.0, expected.sub(actual).amaxNumber().doubleValue(), 1e-12, router.toString());
        }
    }

    @Test
    void dispatchEqualsDenseComputationOfAllExperts() {
        INDArray x = Nd4j.randn(DataType.DOUBLE, 30, D);
        MultiLayerNetwork sparse = network2d(moe(new TopPRouter(0.5)).numSharedExperts(2).build());
        MultiLayerNetwork dense = network2d(moe(new TopPRouter(0.5)).numSharedExperts(2).denseCompute(true).build());
        dense.setParams(sparse.params());
        assertEquals(0.0, sparse.output(x).sub(dense.output(x)).amaxNumber().doubleValue(), 1e-12);
        INDArray y = Nd4j.randn(DataType.DOUBLE, 30, N_OUT);
        INDArray gSparse = sparse.calculateGradients(x, y, null, null).getFirst().gradient();
        INDArray gDense = dense.calculateGradients(x, y, null, null).getFirst().gradient();
        assertEquals(0.0, gSparse.sub(gDense).amaxNumber().doubleValue(), 1e-12);
    }

    @Test
    void capacityDropsAreCountedAndMatchTheReferenceOrder() {
        int n = 40;
        double factor = 0.5;
        MultiLayerNetwork net = network2d(moe(new TopKRouter(2)).capacityFactor(factor).loadBalanceCoefficient(0)
                .build());
        INDArray x = Nd4j.randn(DataType.DOUBLE, n, D);
        INDArray tokens = net.feedForward(x, false).get(1);
        MoeFeedForward conf = (MoeFeedForward) net.getLayer(1).conf().getLayer();
        INDArray probs = Transforms.softmax(tokens.mmul(net.getLayer(1).getParam(MoeFeedForward.W_ROUTER)), true);
        long capacity = (long) Math.ceil(factor * n * 2 / E);
        long[] used = new long[E];
        long dropped = 0;
        for (int t = 0; t < n; t++) {
            double[] s = ReferenceRouting.select(conf.getRouter(), probs.getRow(t).toDoubleVector());
            for (int e = 0; e < E; e++) {
                if (s[e] == 1 && used[e]++ >= capacity) {
                    dropped++;
                }
            }
        }
        RoutingStatistics stats = RoutingStatistics.of(net.getLayer(1)).orElseThrow();
        assertTrue(dropped > 0, "the test needs drops");
        assertEquals(dropped, stats.droppedPairs());
        assertEquals(capacity, stats.capacity());
        assertEquals(n, stats.tokens());
        assertEquals(2.0, stats.meanExpertsPerToken(), 0.0);
        assertArrayEquals(used, stats.load());
    }

    @Test
    void routingStatisticsAreReadableFromATrainingListener() {
        MultiLayerNetwork net = network3d(moe(new TopPRouter(0.5)).build());
        List<Map<String, RoutingStatistics>> seen = new ArrayList<>();
        net.setListeners(new BaseTrainingListener() {
            @Override
            public void iterationDone(Model model, int iteration, int epoch) {
                seen.add(RoutingStatistics.of(model));
            }
        });
        INDArray mask = mask();
        net.fit(Nd4j.randn(DataType.DOUBLE, MB, D, T), Nd4j.randn(DataType.DOUBLE, MB, N_OUT, T), mask, mask);
        RoutingStatistics stats = seen.get(0).get("layer0");
        long unmasked = mask.sumNumber().longValue();
        assertEquals(unmasked, stats.tokens(), "masked steps are not routed");
        assertEquals(unmasked, java.util.Arrays.stream(stats.expertsPerTokenCounts()).sum());
        assertEquals(0, stats.expertsPerTokenCounts()[0], "top-p always keeps at least one expert");
        double totalLoad = java.util.Arrays.stream(stats.load()).sum();
        assertEquals(stats.meanExpertsPerToken() * unmasked, totalLoad, 1e-9);
        assertTrue(stats.klToUniform() >= 0 && stats.klToUniform() <= Math.log(E) + 1e-12);
    }

    @Test
    void topPPicksMoreExpertsWhenTheRouterIsLessCertain() {
        MultiLayerConfiguration conf = GradientChecks.doubleNetwork(3).list()
                .layer(moe(new TopPRouter(0.4)).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(N_OUT)
                        .activation(Activation.IDENTITY).build())
                .setInputType(InputType.feedForward(D))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        INDArray direction = Nd4j.randn(DataType.DOUBLE, 1, D);
        // Same direction, growing norm: logits scale with the input, so the router grows more certain.
        double previous = Double.POSITIVE_INFINITY;
        for (double scale : new double[] {0.01, 1, 100}) {
            net.output(direction.mul(scale));
            double experts = RoutingStatistics.of(net.getLayer(0)).orElseThrow().meanExpertsPerToken();
            assertTrue(experts <= previous, "scale " + scale + ": " + experts + " experts after " + previous);
            previous = experts;
        }
        net.output(direction.mul(0.01));
        double uncertain = RoutingStatistics.of(net.getLayer(0)).orElseThrow().meanExpertsPerToken();
        net.output(direction.mul(100));
        double certain = RoutingStatistics.of(net.getLayer(0)).orElseThrow().meanExpertsPerToken();
        assertEquals(1.0, certain, 0.0);
        assertTrue(uncertain >= 2,
                "near-uniform router probabilities need several experts to pass p = 0.4: " + uncertain);
    }

    @Test
    void auxiliaryLossesAreReportedInTheScore() {
        MultiLayerNetwork with = network2d(withAux(moe(new TopPRouter(0.5))).build());
        MultiLayerNetwork without = network2d(moe(new TopPRouter(0.5)).loadBalanceCoefficient(0)
                .entropyCoefficient(0).build());
        without.setParams(with.params());
        INDArray x = Nd4j.randn(DataType.DOUBLE, MB, D);
        org.nd4j.linalg.dataset.DataSet ds = new org.nd4j.linalg.dataset.DataSet(x,
                Nd4j.randn(DataType.DOUBLE, MB, N_OUT));
        double difference = with.score(ds, true) - without.score(ds, true);
        double aux = ((MoeLayerRuntime) with.getLayer(1)).auxiliaryScore();
        assertTrue(aux > 0);
        assertEquals(aux, difference, 1e-12);
    }

    @Test
    void jsonAndModelSerializerRoundTrips(@TempDir Path dir) throws Exception {
        MultiLayerNetwork net = network3d(withAux(moe(new TopPRouter(0.45, true, 3))).numSharedExperts(2)
                .sharedHidden(4).sharedGate(true).capacityFactor(1.5).build());
        MultiLayerConfiguration conf = net.getLayerWiseConfigurations();
        MultiLayerConfiguration back = MultiLayerConfiguration.fromJson(conf.toJson());
        assertEquals(conf.getConf(0).getLayer(), back.getConf(0).getLayer());
        assertEquals(conf, back);

        File file = dir.resolve("moe.zip").toFile();
        ModelSerializer.writeModel(net, file, true);
        MultiLayerNetwork restored = ModelSerializer.restoreMultiLayerNetwork(file, true);
        INDArray x = Nd4j.randn(DataType.DOUBLE, MB, D, T);
        assertEquals(net.params(), restored.params());
        assertEquals(net.output(x), restored.output(x));
    }

    @Test
    void invalidConfigsAreRejectedWithNamedFieldValueAndFix() {
        assertRejected(() -> moe(new TopKRouter(6)).name("moe").nIn(D).build(), "MoeFeedForward(name=moe)",
                "router k", "got 6");
        assertRejected(() -> moe(new TopPRouter(0)).name("moe").nIn(D).build(), "router p", "(0, 1]", "got 0.0");
        assertRejected(() -> moe(new TopPRouter(1.2)).nIn(D).build(), "router p", "got 1.2");
        assertRejected(() -> moe(new TopKRouter(1)).nIn(D).numExperts(0).build(), "numExperts", "at least 2", "got 0");
        assertRejected(() -> moe(new TopKRouter(1)).nIn(D).numExperts(1).build(), "numExperts", "got 1",
                "DenseFeedForward");
        assertRejected(() -> moe(new TopKRouter(1)).nIn(D).expertHidden(0).build(), "expertHidden", "got 0");
        assertRejected(() -> moe(null).nIn(D).build(), "router", "TopPRouter(0.4)");
        assertRejected(() -> moe(new TopKRouter(1)).nIn(D).capacityFactor(-1).build(), "capacityFactor", "got -1.0",
                "dropless");
        assertRejected(() -> moe(new TopKRouter(1)).nIn(D).sharedGate(true).build(), "sharedGate",
                "numSharedExperts(1)");
        assertRejected(() -> moe(new TopKRouter(1)).nIn(D).loadBalanceCoefficient(-0.1).build(),
                "loadBalanceCoefficient", "got -0.1");
        assertRejected(() -> moe(new TopPRouter(0.4, false, 7)).nIn(D).build(), "maxExperts", "got 7");
    }

}
