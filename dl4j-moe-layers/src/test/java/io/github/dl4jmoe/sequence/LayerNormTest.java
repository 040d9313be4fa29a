package io.github.dl4jmoe.sequence;

import static io.github.dl4jmoe.sequence.SequenceNetworks.layerOutput;
import static io.github.dl4jmoe.sequence.SequenceNetworks.maxAbsDiff;
import static io.github.dl4jmoe.testutil.ConfigAssertions.assertRejected;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;

import io.github.dl4jmoe.testutil.GradientChecks;
import org.deeplearning4j.exception.DL4JInvalidInputException;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class LayerNormTest {

    private static final int D = 8;
    private static final int MB = 3;
    private static final int T = 5;
    private static final double EPS = 1e-3;

    @BeforeEach
    void doublePrecision() {
        GradientChecks.useDoublePrecision();
        Nd4j.getRandom().setSeed(2024);
    }

    /** Gain and bias moved away from 1 and 0 so that the comparisons see them. */
    private static MultiLayerNetwork randomised(MultiLayerNetwork net) {
        net.getLayer(0).getParam(LayerNorm.GAIN)
                .assign(Nd4j.rand(DataType.DOUBLE, 1, net.getLayer(0).getParam(LayerNorm.GAIN).length()).addi(0.5));
        net.getLayer(0).getParam(LayerNorm.BIAS)
                .assign(Nd4j.randn(DataType.DOUBLE, 1, net.getLayer(0).getParam(LayerNorm.BIAS).length()));
        return net;
    }

    @Test
    void parameterShapesAndInitialisation() {
        MultiLayerNetwork net = SequenceNetworks.recurrent(new LayerNorm.Builder().build(), D);
        assertEquals(2, net.getLayer(0).paramTable().size());
        INDArray gain = net.getLayer(0).getParam(LayerNorm.GAIN);
        INDArray bias = net.getLayer(0).getParam(LayerNorm.BIAS);
        assertArrayEquals(new long[] {1, D}, gain.shape());
        assertArrayEquals(new long[] {1, D}, bias.shape());
        assertEquals(Nd4j.ones(DataType.DOUBLE, 1, D), gain);
        assertEquals(Nd4j.zeros(DataType.DOUBLE, 1, D), bias);
        assertEquals(LayerNorm.DEFAULT_EPS,
                ((LayerNorm) net.getLayerWiseConfigurations().getConf(0).getLayer()).getEps());
    }

    /** Plain loops over one feature vector: {@code gain * (v - mean) / sqrt(var + eps) + bias}. */
    private static double[] normalise(double[] v, INDArray gain, INDArray bias, double eps) {
        double mean = 0;
        for (double a : v) {
            mean += a / v.length;
        }
        double var = 0;
        for (double a : v) {
            var += (a - mean) * (a - mean) / v.length;
        }
        double[] y = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            y[i] = gain.getDouble(0, i) * (v[i] - mean) / Math.sqrt(var + eps) + bias.getDouble(0, i);
        }
        return y;
    }

    @Test
    void matchesNaiveComputationOnSequences() {
        MultiLayerNetwork net = randomised(SequenceNetworks.recurrent(new LayerNorm.Builder().eps(EPS).build(), D));
        INDArray x = Nd4j.randn(DataType.DOUBLE, MB, D, T).muli(3).addi(1);
        INDArray y = layerOutput(net, x, null);
        INDArray expected = Nd4j.create(DataType.DOUBLE, MB, D, T);
        for (int b = 0; b < MB; b++) {
            for (int t = 0; t < T; t++) {
                double[] v = new double[D];
                for (int i = 0; i < D; i++) {
                    v[i] = x.getDouble(b, i, t);
                }
                double[] n = normalise(v, net.getLayer(0).getParam(LayerNorm.GAIN),
                        net.getLayer(0).getParam(LayerNorm.BIAS), EPS);
                for (int i = 0; i < D; i++) {
                    expected.putScalar(new long[] {b, i, t}, n[i]);
                }
            }
        }
        assertEquals(0.0, maxAbsDiff(expected, y), 1e-12);
    }

    @Test
    void matchesNaiveComputationOnRows() {
        MultiLayerNetwork net = randomised(SequenceNetworks.feedForward(new LayerNorm.Builder().build(), D));
        INDArray x = Nd4j.randn(DataType.DOUBLE, MB, D).muli(3).addi(1);
        INDArray y = layerOutput(net, x, null);
        for (int b = 0; b < MB; b++) {
            double[] n = normalise(x.getRow(b).toDoubleVector(), net.getLayer(0).getParam(LayerNorm.GAIN),
                    net.getLayer(0).getParam(LayerNorm.BIAS), LayerNorm.DEFAULT_EPS);
            assertArrayEquals(n, y.getRow(b).toDoubleVector(), 1e-12);
        }
    }

    @Test
    void gradientCheckOnRows() {
        int d = 4;
        MultiLayerNetwork net = randomised(SequenceNetworks.feedForward(new LayerNorm.Builder().build(), d));
        assertTrue(GradientChecks.check(net, Nd4j.randn(DataType.DOUBLE, MB, d),
                Nd4j.randn(DataType.DOUBLE, MB, SequenceNetworks.OUT)));
    }

    @Test
    void gradientCheckOnSequencesWithPaddingMask() {
        int d = 4;
        MultiLayerNetwork net = randomised(SequenceNetworks.recurrent(new LayerNorm.Builder().eps(EPS).build(), d));
        INDArray mask = SequenceNetworks.paddingMask(2, 4);
        assertTrue(GradientChecks.check(net, Nd4j.randn(DataType.DOUBLE, 2, d, 4),
                Nd4j.randn(DataType.DOUBLE, 2, SequenceNetworks.OUT, 4), mask, mask));
    }

    @Test
    void jsonRoundTrip() {
        SequenceNetworks.assertJsonRoundTrip(randomised(SequenceNetworks.recurrent(new LayerNorm.Builder().eps(EPS)
                .name("ln").build(), D)), Nd4j.randn(DataType.DOUBLE, MB, D, T));
    }

    @Test
    void modelSerializerRoundTrip(@TempDir Path dir) throws Exception {
        SequenceNetworks.assertModelSerializerRoundTrip(randomised(SequenceNetworks.feedForward(new LayerNorm.Builder()
                .build(), D)), Nd4j.randn(DataType.DOUBLE, MB, D), dir);
    }

    @Test
    void invalidConfigsAreRejectedWithNamedFieldValueAndFix() {
        assertRejected(() -> new LayerNorm.Builder().name("ln").eps(0).build(),
                "LayerNorm(name=ln)", "eps", "got 0.0", "try eps(1.0E-5)");
        assertRejected(() -> new LayerNorm.Builder().name("ln").eps(Double.POSITIVE_INFINITY).build(),
                "LayerNorm(name=ln)", "eps", "got Infinity", "try eps(1.0E-5)");
        assertRejected(() -> new LayerNorm.Builder().name("ln").nIn(1).build(),
                "LayerNorm(name=ln)", "nIn", "got 1", "at least 2", "drop the LayerNorm");
        assertRejected(() -> new LayerNorm.Builder().name("ln").nIn(-3).build(),
                "LayerNorm(name=ln)", "nIn", "got -3", "set nIn(");
        assertRejected(() -> GradientChecks.doubleNetwork(1).list()
                        .layer(new LayerNorm.Builder().name("ln").build())
                        .layer(new OutputLayer.Builder().nOut(2).build())
                        .setInputType(InputType.feedForward(1))
                        .build(),
                "LayerNorm(name=ln)", "nIn", "got 1", "at least 2");
        assertRejected(() -> GradientChecks.doubleNetwork(1).list()
                        .layer(new LayerNorm.Builder().name("ln").build())
                        .layer(new OutputLayer.Builder().nOut(2).build())
                        .setInputType(InputType.convolutional(4, 4, 2))
                        .build(),
                "LayerNorm(name=ln)", "input type", "got CNN", "or feed-forward input [mb, d]");
    }

    @Test
    void configLoadedFromJsonIsValidatedToo() {
        MultiLayerConfiguration conf = SequenceNetworks.recurrent(new LayerNorm.Builder().eps(EPS).build(), D)
                .getLayerWiseConfigurations();
        String json = conf.toJson();
        String broken = json.replace("\"eps\" : " + EPS, "\"eps\" : -1.0");
        assertTrue(!broken.equals(json), "the test must actually corrupt the JSON: " + json);
        MultiLayerConfiguration loaded = MultiLayerConfiguration.fromJson(broken);
        assertRejected(() -> new MultiLayerNetwork(loaded).init(), "LayerNorm", "eps", "got -1.0", "try eps(");
    }

    @Test
    void wrongInputWidthNamesExpectedAndActual() {
        MultiLayerNetwork net = SequenceNetworks.feedForward(new LayerNorm.Builder().name("ln").build(), D);
        DL4JInvalidInputException e = assertThrows(DL4JInvalidInputException.class,
                () -> net.output(Nd4j.randn(DataType.DOUBLE, MB, D + 1)));
        assertTrue(e.getMessage().contains("LayerNorm(name=ln)") && e.getMessage().contains("[mb, nIn=" + D + "]")
                && e.getMessage().contains("[3, 9]"), e.getMessage());
    }
}
