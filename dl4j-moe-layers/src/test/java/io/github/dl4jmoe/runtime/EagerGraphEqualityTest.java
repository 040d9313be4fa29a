package io.github.dl4jmoe.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import io.github.dl4jmoe.layers.DenseFeedForward;
import io.github.dl4jmoe.layers.FfnActivation;
import io.github.dl4jmoe.layers.FineRMoeLayer;
import io.github.dl4jmoe.layers.MoeFeedForward;
import io.github.dl4jmoe.layers.PeerLayer;
import io.github.dl4jmoe.routing.TopKRouter;
import io.github.dl4jmoe.routing.TopPRouter;
import io.github.dl4jmoe.sequence.BaseSequenceLayer;
import io.github.dl4jmoe.sequence.CausalSelfAttention;
import io.github.dl4jmoe.sequence.LayerNorm;
import io.github.dl4jmoe.sequence.PositionalEmbedding;
import io.github.dl4jmoe.testutil.GradientChecks;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.conf.layers.recurrent.SimpleRnn;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * The eager path of every layer kind computes what its SameDiff graph (the specification; DL4J's stock runtime for the
 * sequence layers) computes, in double precision to 1e-10: outputs, every parameter gradient, the input gradient,
 * the auxiliary score, the network's score, the routing statistics, and the parameters and running state after two
 * training steps (the expert bias, set nonzero, included). On 2D input and on 3D input with a mask that hides some
 * steps and one whole sequence.
 */
class EagerGraphEqualityTest {

    private static final double TOLERANCE = 1e-10;
    private static final int D = 6;
    private static final int N_OUT = 3;
    private static final int MB = 5;
    private static final int T = 4;

    @BeforeEach
    void doublePrecision() {
        GradientChecks.useDoublePrecision();
    }

    static Stream<Arguments> layers() {
        List<BaseMoeLayer> kinds = List.of(
                new DenseFeedForward.Builder().dFf(7).activation(FfnActivation.GELU).build(),
                new DenseFeedForward.Builder().dFf(5).activation(FfnActivation.SWIGLU).build(),
                new DenseFeedForward.Builder().dFf(5).activation(FfnActivation.RELU).hasBias(false).build(),
                new MoeFeedForward.Builder().numExperts(4).expertHidden(3).router(new TopKRouter(2, true))
                        .numSharedExperts(1).sharedGate(true).loadBalanceCoefficient(0.3).zLossCoefficient(0.1)
                        .build(),
                new MoeFeedForward.Builder().numExperts(5).expertHidden(3).activation(FfnActivation.TANH)
                        .router(new TopPRouter(0.6, true, 3)).capacityFactor(0.75).loadBalanceCoefficient(0.3)
                        .entropyCoefficient(0.2).build(),
                new MoeFeedForward.Builder().numExperts(4).expertHidden(3).activation(FfnActivation.GEGLU)
                        .router(new TopPRouter(0.5)).numSharedExperts(2).entropyCoefficient(0.2).build(),
                new MoeFeedForward.Builder().numExperts(4).expertHidden(3).activation(FfnActivation.SILU)
                        .router(new TopKRouter(1)).denseCompute(true).build(),
                new FineRMoeLayer.Builder().dFf(8).inputGranularity(2).outputGranularity(2).outputExpansion(2)
                        .concatProjection(true).sharedHidden(4).sharedGate(true).loadBalanceCoefficient(0.2).build(),
                new FineRMoeLayer.Builder().dFf(9).inputGranularity(3).inputExpansion(2).topInput(2)
                        .capacityFactor(0.8).build(),
                new MoeFeedForward.Builder().numExperts(5).expertHidden(3).router(new TopKRouter(2))
                        .loadBalanceCoefficient(0.3).expertBias(true).biasUpdateRate(0.05).build(),
                new MoeFeedForward.Builder().numExperts(5).expertHidden(3).router(new TopPRouter(0.6, true, 3))
                        .capacityFactor(0.75).entropyCoefficient(0.2).expertBias(true).build(),
                new FineRMoeLayer.Builder().dFf(8).inputGranularity(2).outputGranularity(2).outputExpansion(2)
                        .concatProjection(true).expertBias(true).biasUpdateRate(0.05).build(),
                new PeerLayer.Builder().numExperts(16).heads(2).topK(2).keySize(4).nOut(D)
                        .tableUpdates(PeerLayer.TableUpdates.DENSE).build(),
                new PeerLayer.Builder().numExperts(9).heads(1).topK(3).keySize(2).nOut(D)
                        .queryNorm(PeerLayer.QueryNorm.LAYER).gate(PeerLayer.Gate.SIGMOID).build(),
                new PeerLayer.Builder().numExperts(16).heads(3).topK(3).keySize(4).nOut(D).sharedKeys(true).build());
        List<Layer> sequenceKinds = List.of(
                new CausalSelfAttention.Builder().nHeads(2).build(),
                new CausalSelfAttention.Builder().nHeads(3).hasBias(false).build(),
                new PositionalEmbedding.Builder().contextLength(T + 2).build(),
                new LayerNorm.Builder().build());
        return Stream.concat(
                kinds.stream().flatMap(layer -> Stream.of(Arguments.of(layer, false), Arguments.of(layer, true))),
                Stream.concat(sequenceKinds.stream().map(layer -> Arguments.of(layer, true)),
                        Stream.of(Arguments.of(new LayerNorm.Builder().build(), false))));
    }

    @ParameterizedTest(name = "{0}, sequence input: {1}")
    @MethodSource("layers")
    void eagerEqualsGraph(Layer layer, boolean sequence) {
        MultiLayerNetwork eager = network(layer, ExecutionMode.EAGER, sequence);
        MultiLayerNetwork graph = network(layer, ExecutionMode.GRAPH, sequence);
        INDArray bias = eager.getLayer(1).paramTable().get(MoeFeedForward.EXPERT_BIAS);
        if (bias != null) {                                     // an expert bias large enough to move the selection
            bias.assign(Nd4j.randn(DataType.DOUBLE, bias.shape()).muli(0.1));
        }
        graph.setParams(eager.params().dup());
        assertTrue(runsEager(eager.getLayer(1).conf().getLayer()), "eager network runs eagerly");
        assertFalse(runsEager(graph.getLayer(1).conf().getLayer()), "graph network runs its graph");

        INDArray x = sequence ? Nd4j.randn(DataType.DOUBLE, MB, D, T) : Nd4j.randn(DataType.DOUBLE, MB, D);
        INDArray y = sequence ? Nd4j.randn(DataType.DOUBLE, MB, N_OUT, T) : Nd4j.randn(DataType.DOUBLE, MB, N_OUT);
        INDArray mask = sequence ? Nd4j.createFromArray(new double[][] {
            {1, 1, 1, 1}, {1, 1, 0, 0}, {0, 0, 0, 0}, {1, 0, 1, 1}, {1, 1, 1, 0}}) : null;

        assertClose(graph.output(x, false, mask, mask), eager.output(x, false, mask, mask), "inference output");
        Pair<Gradient, INDArray> g = graph.calculateGradients(x, y, mask, mask);
        Pair<Gradient, INDArray> e = eager.calculateGradients(x, y, mask, mask);
        assertClose(g.getSecond(), e.getSecond(), "input gradient");
        for (Map.Entry<String, INDArray> entry : g.getFirst().gradientForVariable().entrySet()) {
            assertClose(entry.getValue(), e.getFirst().gradientForVariable().get(entry.getKey()), entry.getKey());
        }
        assertEquals(graph.score(), eager.score(), TOLERANCE, "score");
        if (graph.getLayer(1) instanceof MoeLayerRuntime graphLayer) {
            MoeLayerRuntime eagerLayer = (MoeLayerRuntime) eager.getLayer(1);
            assertEquals(graphLayer.auxiliaryScore(), eagerLayer.auxiliaryScore(), TOLERANCE, "auxiliary score");
            assertEquals(graphLayer.statistics().keySet(), eagerLayer.statistics().keySet(), "statistics");
            graphLayer.statistics().forEach((name, value) ->
                    assertClose(value, eagerLayer.statistics().get(name), "statistic " + name));
        }

        for (int step = 0; step < 2; step++) {                  // parameters, table rows and running state
            graph.fit(new org.nd4j.linalg.dataset.DataSet(x, y, mask, mask));
            eager.fit(new org.nd4j.linalg.dataset.DataSet(x, y, mask, mask));
        }
        assertClose(graph.params(), eager.params(), "parameters after two training steps");
    }

    private static void assertClose(INDArray expected, INDArray actual, String what) {
        assertTrue(actual != null, what + ": missing");
        assertEquals(expected.length(), actual.length(), what + ": length");
        double difference = expected.length() == 0 ? 0
                : expected.castTo(DataType.DOUBLE).reshape(-1).sub(actual.castTo(DataType.DOUBLE).reshape(-1))
                .amaxNumber().doubleValue();
        assertEquals(0, difference, TOLERANCE, what + ": largest difference");
    }

    private static boolean runsEager(Layer layer) {
        return layer instanceof BaseMoeLayer moe ? moe.runsEager() : ((BaseSequenceLayer) layer).runsEager();
    }

    private static MultiLayerNetwork network(Layer layer, ExecutionMode mode, boolean sequence) {
        Layer copy = layer.clone();
        if (copy instanceof BaseMoeLayer moe) {
            moe.setExecutionMode(mode);
        } else {
            ((BaseSequenceLayer) copy).setExecutionMode(mode);
        }
        copy.setLayerName("layer");
        DenseLayer dense = new DenseLayer.Builder().nOut(D).activation(Activation.TANH).build();
        var list = GradientChecks.doubleNetwork(11).updater(new Sgd(0.1)).list()
                .layer(sequence ? new SimpleRnn.Builder().nOut(D).activation(Activation.TANH).build() : dense)
                .layer(copy);
        MultiLayerConfiguration conf = sequence
                ? list.layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(N_OUT)
                        .activation(Activation.IDENTITY).build()).setInputType(InputType.recurrent(D)).build()
                : list.layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(N_OUT)
                        .activation(Activation.IDENTITY).build()).setInputType(InputType.feedForward(D)).build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }
}
