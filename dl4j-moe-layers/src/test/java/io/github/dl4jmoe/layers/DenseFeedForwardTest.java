package io.github.dl4jmoe.layers;

import static io.github.dl4jmoe.testutil.ConfigAssertions.assertRejected;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Path;
import java.util.Map;

import io.github.dl4jmoe.testutil.GradientChecks;
import org.deeplearning4j.exception.DL4JInvalidInputException;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.nd4j.linalg.ops.transforms.Transforms;

class DenseFeedForwardTest {

    private static final int N_IN = 5;
    private static final int D_FF = 7;
    private static final int N_OUT = 3;
    private static final int MB = 4;
    private static final int T = 6;

    @BeforeEach
    void doublePrecision() {
        GradientChecks.useDoublePrecision();
        Nd4j.getRandom().setSeed(2024);
    }

    private static MultiLayerNetwork network2d(DenseFeedForward layer) {
        MultiLayerConfiguration conf = GradientChecks.doubleNetwork(7).list()
                .layer(layer)
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(N_OUT)
                        .activation(Activation.IDENTITY).build())
                .setInputType(InputType.feedForward(N_IN))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    private static MultiLayerNetwork network3d(DenseFeedForward layer) {
        MultiLayerConfiguration conf = GradientChecks.doubleNetwork(7).list()
                .layer(layer)
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(N_OUT)
                        .activation(Activation.IDENTITY).build())
                .setInputType(InputType.recurrent(N_IN))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    private static DenseFeedForward.Builder layer(FfnActivation activation) {
        return new DenseFeedForward.Builder().dFf(D_FF).activation(activation);
    }

    @Test
    void parameterShapes() {
        MultiLayerNetwork plain = network2d(layer(FfnActivation.GELU).build());
        Map<String, INDArray> p = plain.getLayer(0).paramTable();
        assertEquals(4, p.size());
        assertArrayEquals(new long[] {N_IN, D_FF}, p.get(DenseFeedForward.W_UP).shape());
        assertArrayEquals(new long[] {1, D_FF}, p.get(DenseFeedForward.B_UP).shape());
        assertArrayEquals(new long[] {D_FF, N_IN}, p.get(DenseFeedForward.W_DOWN).shape());
        assertArrayEquals(new long[] {1, N_IN}, p.get(DenseFeedForward.B_DOWN).shape());

        Map<String, INDArray> gated = network2d(layer(FfnActivation.SWIGLU).nOut(N_OUT).hasBias(false).build())
                .getLayer(0).paramTable();
        assertEquals(3, gated.size());
        assertArrayEquals(new long[] {N_IN, D_FF}, gated.get(DenseFeedForward.W_GATE).shape());
        assertArrayEquals(new long[] {D_FF, N_OUT}, gated.get(DenseFeedForward.W_DOWN).shape());
    }

    /** Plain ND4J: {@code act(x Wup + bUp) Wdown + bDown}, with the gated variants spelled out. */
    static INDArray reference(INDArray x, Map<String, INDArray> p, FfnActivation activation) {
        INDArray up = x.mmul(p.get(DenseFeedForward.W_UP));
        INDArray gate = p.containsKey(DenseFeedForward.W_GATE) ? x.mmul(p.get(DenseFeedForward.W_GATE)) : null;
        if (p.containsKey(DenseFeedForward.B_UP)) {
            up.addiRowVector(p.get(DenseFeedForward.B_UP));
            if (gate != null) {
                gate.addiRowVector(p.get(DenseFeedForward.B_GATE));
            }
        }
        INDArray h;
        switch (activation) {
            case RELU: h = Transforms.relu(up, true); break;
            case TANH: h = Transforms.tanh(up, true); break;
            case SILU: h = up.mul(Transforms.sigmoid(up, true)); break;
            case GELU: h = gelu(up); break;
            case SWIGLU: h = gate.mul(Transforms.sigmoid(gate, true)).mul(up); break;
            case GEGLU: h = gelu(gate).mul(up); break;
            default: throw new IllegalArgumentException(activation.name());
        }
        INDArray y = h.mmul(p.get(DenseFeedForward.W_DOWN));
        return p.containsKey(DenseFeedForward.B_DOWN) ? y.addiRowVector(p.get(DenseFeedForward.B_DOWN)) : y;
    }

    /** Exact GELU {@code 0.5 x (1 + erf(x / sqrt 2))} (Hendrycks and Gimpel 2016), element by element. */
    private static INDArray gelu(INDArray x) {
        INDArray y = x.dup();
        for (long i = 0; i < y.length(); i++) {
            double v = x.getDouble(i);
            y.putScalar(i, 0.5 * v * (1 + org.apache.commons.math3.special.Erf.erf(v / Math.sqrt(2))));
        }
        return y;
    }

    @ParameterizedTest
    @EnumSource(FfnActivation.class)
    void matchesNaiveComputation(FfnActivation activation) {
        MultiLayerNetwork net = network2d(layer(activation).build());
        INDArray x = Nd4j.randn(DataType.DOUBLE, MB, N_IN);
        INDArray expected = reference(x, net.getLayer(0).paramTable(), activation);
        INDArray actual = net.feedForward(x, false).get(1);
        assertEquals(0.0, expected.sub(actual).amaxNumber().doubleValue(), 1e-12, activation.name());
    }

    @ParameterizedTest
    @EnumSource(value = FfnActivation.class, names = {"TANH", "GELU", "SILU", "SWIGLU", "GEGLU"})
    void gradientCheck2d(FfnActivation activation) {
        MultiLayerNetwork net = network2d(layer(activation).build());
        assertTrue(GradientChecks.check(net, Nd4j.randn(DataType.DOUBLE, MB, N_IN),
                Nd4j.randn(DataType.DOUBLE, MB, N_OUT)));
    }

    @Test
    void gradientCheck2dWithoutBias() {
        MultiLayerNetwork net = network2d(layer(FfnActivation.SWIGLU).hasBias(false).build());
        assertTrue(GradientChecks.check(net, Nd4j.randn(DataType.DOUBLE, MB, N_IN),
                Nd4j.randn(DataType.DOUBLE, MB, N_OUT)));
    }

    /** Sequence 1 is fully masked, sequence 2 partly. */
    private static INDArray mask() {
        INDArray mask = Nd4j.ones(DataType.DOUBLE, MB, T);
        mask.getRow(1).assign(0);
        mask.get(NDArrayIndex.point(2), NDArrayIndex.interval(3, T)).assign(0);
        return mask;
    }

    @Test
    void gradientCheck3dWithMask() {
        MultiLayerNetwork net = network3d(layer(FfnActivation.SWIGLU).build());
        INDArray mask = mask();
        assertTrue(GradientChecks.check(net, Nd4j.randn(DataType.DOUBLE, MB, N_IN, T),
                Nd4j.randn(DataType.DOUBLE, MB, N_OUT, T), mask, mask));
    }

    @Test
    void maskedStepsOutputZeroAndReceiveNoGradient() {
        MultiLayerNetwork net = network3d(layer(FfnActivation.GELU).build());
        INDArray x = Nd4j.randn(DataType.DOUBLE, MB, N_IN, T);
        INDArray mask = mask();
        INDArray y = net.feedForward(x, false).get(1);
        net.setLayerMaskArrays(mask, mask);
        INDArray masked = net.feedForward(x, false).get(1);
        INDArray inputGrad = net.calculateGradients(x, Nd4j.randn(DataType.DOUBLE, MB, N_OUT, T), mask, mask)
                .getSecond();
        for (int b = 0; b < MB; b++) {
            for (int t = 0; t < T; t++) {
                INDArray out = masked.get(NDArrayIndex.point(b), NDArrayIndex.all(), NDArrayIndex.point(t));
                INDArray grad = inputGrad.get(NDArrayIndex.point(b), NDArrayIndex.all(), NDArrayIndex.point(t));
                INDArray unmasked = y.get(NDArrayIndex.point(b), NDArrayIndex.all(), NDArrayIndex.point(t));
                if (mask.getDouble(b, t) == 0) {
                    assertEquals(0.0, out.amaxNumber().doubleValue(), 0.0, "output at masked (" + b + ", " + t + ")");
                    assertEquals(0.0, grad.amaxNumber().doubleValue(), 0.0,
                            "gradient at masked (" + b + ", " + t + ")");
                } else {
                    assertEquals(unmasked, out, "unmasked steps are computed as without a mask");
                }
            }
        }
    }

    @Test
    void sequenceInputMatchesNaiveComputationPerStep() {
        MultiLayerNetwork net = network3d(layer(FfnActivation.SWIGLU).build());
        INDArray x = Nd4j.randn(DataType.DOUBLE, MB, N_IN, T);
        INDArray y = net.feedForward(x, false).get(1);
        for (int t = 0; t < T; t++) {
            INDArray xt = x.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(t));
            INDArray expected = reference(xt, net.getLayer(0).paramTable(), FfnActivation.SWIGLU);
            INDArray actual = y.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(t));
            assertEquals(0.0, expected.sub(actual).amaxNumber().doubleValue(), 1e-12);
        }
    }

    @Test
    void jsonRoundTrip() {
        MultiLayerConfiguration conf = network2d(layer(FfnActivation.GEGLU).hasBias(false).nOut(N_OUT).build())
                .getLayerWiseConfigurations();
        MultiLayerConfiguration back = MultiLayerConfiguration.fromJson(conf.toJson());
        assertEquals(conf.getConf(0).getLayer(), back.getConf(0).getLayer());
        assertEquals(conf, back);
    }

    @Test
    void modelSerializerRoundTrip(@TempDir Path dir) throws Exception {
        MultiLayerNetwork net = network3d(layer(FfnActivation.SWIGLU).build());
        File file = dir.resolve("ffn.zip").toFile();
        ModelSerializer.writeModel(net, file, true);
        MultiLayerNetwork restored = ModelSerializer.restoreMultiLayerNetwork(file, true);
        INDArray x = Nd4j.randn(DataType.DOUBLE, MB, N_IN, T);
        assertEquals(net.params(), restored.params());
        assertEquals(net.output(x), restored.output(x));
    }

    @Test
    void worksInAComputationGraph() {
        ComputationGraphConfiguration conf = GradientChecks.doubleNetwork(3).graphBuilder()
                .addInputs("in")
                .addLayer("ffn", layer(FfnActivation.SWIGLU).build(), "in")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(N_OUT)
                        .activation(Activation.IDENTITY).build(), "ffn")
                .setOutputs("out")
                .setInputTypes(InputType.feedForward(N_IN))
                .build();
        ComputationGraph graph = new ComputationGraph(conf);
        graph.init();
        INDArray x = Nd4j.randn(DataType.DOUBLE, MB, N_IN);
        INDArray expected = reference(x, graph.getLayer("ffn").paramTable(), FfnActivation.SWIGLU);
        assertEquals(0.0, expected.sub(graph.feedForward(x, false).get("ffn")).amaxNumber().doubleValue(), 1e-12);
        assertTrue(org.deeplearning4j.gradientcheck.GradientCheckUtil.checkGradients(
                new org.deeplearning4j.gradientcheck.GradientCheckUtil.GraphConfig().net(graph)
                        .inputs(new INDArray[] {x}).labels(new INDArray[] {Nd4j.randn(DataType.DOUBLE, MB, N_OUT)})
                        .epsilon(GradientChecks.EPSILON).maxRelError(GradientChecks.MAX_REL_ERROR)
                        .minAbsoluteError(GradientChecks.MIN_ABS_ERROR)));
    }

    @Test
    void invalidConfigsAreRejectedWithNamedFieldValueAndFix() {
        assertRejected(() -> new DenseFeedForward.Builder().name("ffn3").nIn(8).dFf(0).build(),
                "DenseFeedForward(name=ffn3)", "dFf", "got 0", "try dFf(4 * nIn)");
        assertRejected(() -> new DenseFeedForward.Builder().name("ffn3").nIn(-2).dFf(8).build(),
                "DenseFeedForward(name=ffn3)", "nIn", "got -2", "set nIn(");
        assertRejected(() -> new DenseFeedForward.Builder().name("ffn3").nIn(8).nOut(-1).dFf(8).build(),
                "DenseFeedForward(name=ffn3)", "nOut", "got -1", "set nOut(");
        assertRejected(() -> new DenseFeedForward.Builder().name("ffn3").nIn(8).dFf(8).activation(null).build(),
                "DenseFeedForward(name=ffn3)", "activation", "got null", "SWIGLU");
    }

    @Test
    void configLoadedFromJsonIsValidatedToo() {
        MultiLayerConfiguration conf = network2d(layer(FfnActivation.GELU).build()).getLayerWiseConfigurations();
        String broken = conf.toJson().replace("\"dff\" : " + D_FF, "\"dff\" : -3");
        assertTrue(!broken.equals(conf.toJson()), "the test must actually corrupt the JSON: " + conf.toJson());
        MultiLayerConfiguration loaded = MultiLayerConfiguration.fromJson(broken);
        assertRejected(() -> new MultiLayerNetwork(loaded).init(), "DenseFeedForward", "dFf", "got -3", "try dFf(");
    }

    @Test
    void wrongInputWidthNamesExpectedAndActual() {
        MultiLayerNetwork net = network2d(layer(FfnActivation.GELU).name("ffn").build());
        DL4JInvalidInputException e = assertThrows(DL4JInvalidInputException.class,
                () -> net.output(Nd4j.randn(DataType.DOUBLE, MB, N_IN + 2)));
        assertTrue(e.getMessage().contains("DenseFeedForward(name=ffn)") && e.getMessage().contains("nIn=" + N_IN)
                && e.getMessage().contains("got " + (N_IN + 2)), e.getMessage());
    }

}
