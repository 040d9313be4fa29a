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
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class PositionalEmbeddingTest {

    private static final int D = 8;
    private static final int CONTEXT = 6;
    private static final int MB = 3;
    private static final int T = 5;

    @BeforeEach
    void doublePrecision() {
        GradientChecks.useDoublePrecision();
        Nd4j.getRandom().setSeed(2024);
    }

    private static PositionalEmbedding.Builder positions() {
        return new PositionalEmbedding.Builder().contextLength(CONTEXT);
    }

    private static MultiLayerNetwork network(PositionalEmbedding layer, int d) {
        return SequenceNetworks.recurrent(layer, d);
    }

    @Test
    void parameterShapeAndInitialisation() {
        MultiLayerNetwork net = network(new PositionalEmbedding.Builder().contextLength(64).build(), D);
        INDArray p = net.getLayer(0).getParam(PositionalEmbedding.POSITIONS);
        assertEquals(1, net.getLayer(0).paramTable().size());
        assertArrayEquals(new long[] {D, 64}, p.shape());
        double std = p.stdNumber().doubleValue();
        assertTrue(Math.abs(std - PositionalEmbedding.DEFAULT_INIT_STD) < 0.004, "std " + std);
        assertTrue(Math.abs(p.meanNumber().doubleValue()) < 0.004, "mean " + p.meanNumber());

        INDArray zero = network(positions().initStd(0).build(), D).getLayer(0).getParam(PositionalEmbedding.POSITIONS);
        assertEquals(0.0, zero.amaxNumber().doubleValue(), 0.0);
    }

    @Test
    void addsTheFirstTColumnsOfTheTableForEveryLengthUpToTheContext() {
        MultiLayerNetwork net = network(positions().initStd(1.0).build(), D);
        INDArray p = net.getLayer(0).getParam(PositionalEmbedding.POSITIONS);
        for (int t : new int[] {T, 1, 3, CONTEXT}) {
            INDArray x = Nd4j.randn(DataType.DOUBLE, MB, D, t);
            INDArray expected = x.dup();
            for (int b = 0; b < MB; b++) {
                for (int i = 0; i < D; i++) {
                    for (int s = 0; s < t; s++) {
                        expected.putScalar(new long[] {b, i, s}, x.getDouble(b, i, s) + p.getDouble(i, s));
                    }
                }
            }
            assertEquals(0.0, maxAbsDiff(expected, layerOutput(net, x, null)), 1e-15, "T=" + t);
        }
    }

    @Test
    void longerSequenceIsRejectedWhenItArrives() {
        MultiLayerNetwork net = network(positions().name("pos").build(), D);
        DL4JInvalidInputException e = assertThrows(DL4JInvalidInputException.class,
                () -> net.output(Nd4j.randn(DataType.DOUBLE, MB, D, CONTEXT + 1)));
        for (String part : new String[] {"PositionalEmbedding(name=pos)", "sequence length T", "got 7",
                "contextLength=6", "raise contextLength("}) {
            assertTrue(e.getMessage().contains(part), e.getMessage());
        }
    }

    @Test
    void longerSequenceIsRejectedAtConfigurationTimeWhenTheInputTypeStatesIt() {
        assertRejected(() -> GradientChecks.doubleNetwork(1).list()
                        .layer(positions().name("pos").build())
                        .layer(new RnnOutputLayer.Builder().nOut(2).build())
                        .setInputType(InputType.recurrent(D, CONTEXT + 2))
                        .build(),
                "PositionalEmbedding(name=pos)", "sequence length T", "got 8", "contextLength=6",
                "raise contextLength(");
    }

    @Test
    void gradientCheck() {
        int d = 4;
        MultiLayerNetwork net = network(positions().initStd(0.5).build(), d);
        assertTrue(GradientChecks.check(net, Nd4j.randn(DataType.DOUBLE, 2, d, 4),
                Nd4j.randn(DataType.DOUBLE, 2, SequenceNetworks.OUT, 4)));
    }

    @Test
    void gradientCheckWithPaddingMask() {
        int d = 4;
        MultiLayerNetwork net = network(positions().initStd(0.5).build(), d);
        INDArray mask = SequenceNetworks.paddingMask(2, 4);
        assertTrue(GradientChecks.check(net, Nd4j.randn(DataType.DOUBLE, 2, d, 4),
                Nd4j.randn(DataType.DOUBLE, 2, SequenceNetworks.OUT, 4), mask, mask));
    }

    @Test
    void jsonRoundTrip() {
        SequenceNetworks.assertJsonRoundTrip(network(positions().initStd(0.1).name("pos").build(), D),
                Nd4j.randn(DataType.DOUBLE, MB, D, T));
    }

    @Test
    void modelSerializerRoundTrip(@TempDir Path dir) throws Exception {
        SequenceNetworks.assertModelSerializerRoundTrip(network(positions().build(), D),
                Nd4j.randn(DataType.DOUBLE, MB, D, T), dir);
    }

    @Test
    void invalidConfigsAreRejectedWithNamedFieldValueAndFix() {
        assertRejected(() -> new PositionalEmbedding.Builder().name("pos").nIn(D).build(),
                "PositionalEmbedding(name=pos)", "contextLength", "got 0", "set contextLength(");
        assertRejected(() -> positions().name("pos").nIn(D).initStd(-1).build(),
                "PositionalEmbedding(name=pos)", "initStd", "got -1.0", "try initStd(0.02)");
        assertRejected(() -> positions().name("pos").nIn(D).initStd(Double.NaN).build(),
                "PositionalEmbedding(name=pos)", "initStd", "got NaN", "try initStd(0.02)");
        assertRejected(() -> positions().name("pos").nIn(-1).build(),
                "PositionalEmbedding(name=pos)", "nIn", "got -1", "set nIn(");
        assertRejected(() -> GradientChecks.doubleNetwork(1).list()
                        .layer(positions().name("pos").build())
                        .layer(new RnnOutputLayer.Builder().nOut(2).build())
                        .setInputType(InputType.feedForward(D))
                        .build(),
                "PositionalEmbedding(name=pos)", "input type", "got FF", "use recurrent input [mb, d, T]");
    }

    @Test
    void configLoadedFromJsonIsValidatedToo() {
        MultiLayerConfiguration conf = network(positions().build(), D).getLayerWiseConfigurations();
        String json = conf.toJson();
        String broken = json.replace("\"contextLength\" : " + CONTEXT, "\"contextLength\" : -2");
        assertTrue(!broken.equals(json), "the test must actually corrupt the JSON: " + json);
        MultiLayerConfiguration loaded = MultiLayerConfiguration.fromJson(broken);
        assertRejected(() -> new MultiLayerNetwork(loaded).init(), "PositionalEmbedding", "contextLength", "got -2");
    }

    @Test
    void wrongInputWidthNamesExpectedAndActual() {
        MultiLayerNetwork net = network(positions().name("pos").build(), D);
        DL4JInvalidInputException e = assertThrows(DL4JInvalidInputException.class,
                () -> net.output(Nd4j.randn(DataType.DOUBLE, MB, D - 1, T)));
        assertTrue(e.getMessage().contains("PositionalEmbedding(name=pos)") && e.getMessage().contains("nIn=" + D)
                && e.getMessage().contains("[3, 7, 5]"), e.getMessage());
    }
}
