package io.github.dl4jmoe.sequence;

import static io.github.dl4jmoe.sequence.SequenceNetworks.layerOutput;
import static io.github.dl4jmoe.sequence.SequenceNetworks.maxAbsDiff;
import static io.github.dl4jmoe.testutil.ConfigAssertions.assertRejected;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Map;

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
import org.nd4j.linalg.indexing.NDArrayIndex;

class CausalSelfAttentionTest {

    private static final int D = 8;
    private static final int HEADS = 2;
    private static final int MB = 3;
    private static final int T = 5;
    /** Gradient checks perturb every parameter twice: a narrower layer and a shorter batch keep them fast. */
    private static final int D_CHECK = 4;
    private static final int MB_CHECK = 2;
    private static final int T_CHECK = 4;

    @BeforeEach
    void doublePrecision() {
        GradientChecks.useDoublePrecision();
        Nd4j.getRandom().setSeed(2024);
    }

    private static CausalSelfAttention.Builder attention() {
        return new CausalSelfAttention.Builder().nHeads(HEADS);
    }

    private static MultiLayerNetwork network(CausalSelfAttention layer) {
        return network(layer, D);
    }

    private static MultiLayerNetwork network(CausalSelfAttention layer, int d) {
        MultiLayerNetwork net = SequenceNetworks.recurrent(layer, d);
        // Xavier biases would be zero; random ones make the reference comparison see them
        net.getLayer(0).paramTable().forEach((key, p) -> {
            if (key.startsWith("b")) {
                p.assign(Nd4j.randn(DataType.DOUBLE, p.shape()).muli(0.3));
            }
        });
        return net;
    }

    private static INDArray input(long t) {
        return Nd4j.randn(DataType.DOUBLE, MB, D, t);
    }

    @Test
    void parameterShapes() {
        Map<String, INDArray> p = network(attention().build()).getLayer(0).paramTable();
        assertEquals(8, p.size());
        for (String w : new String[] {CausalSelfAttention.W_QUERY, CausalSelfAttention.W_KEY,
                CausalSelfAttention.W_VALUE, CausalSelfAttention.W_OUT}) {
            assertArrayEquals(new long[] {D, D}, p.get(w).shape(), w);
        }
        for (String b : new String[] {CausalSelfAttention.B_QUERY, CausalSelfAttention.B_KEY,
                CausalSelfAttention.B_VALUE, CausalSelfAttention.B_OUT}) {
            assertArrayEquals(new long[] {1, D}, p.get(b).shape(), b);
        }
        assertEquals(4, network(attention().hasBias(false).build()).getLayer(0).paramTable().size());
    }

    /**
     * Plain loops: per example, head and query step t, softmax over the real keys s &lt;= t of
     * {@code q_t . k_s / sqrt(dh)}, weighted sum of values, output projection; zero at masked query steps.
     */
    static INDArray reference(INDArray x, Map<String, INDArray> p, int heads, INDArray mask) {
        long mb = x.size(0);
        long d = x.size(1);
        long t = x.size(2);
        long dh = d / heads;
        INDArray out = Nd4j.zeros(DataType.DOUBLE, mb, d, t);
        for (long b = 0; b < mb; b++) {
            INDArray rows = x.get(NDArrayIndex.point(b), NDArrayIndex.all(), NDArrayIndex.all())
                    .transpose().dup(); // [T, d]
            INDArray q = affine(rows, p, CausalSelfAttention.W_QUERY, CausalSelfAttention.B_QUERY);
            INDArray k = affine(rows, p, CausalSelfAttention.W_KEY, CausalSelfAttention.B_KEY);
            INDArray v = affine(rows, p, CausalSelfAttention.W_VALUE, CausalSelfAttention.B_VALUE);
            INDArray context = Nd4j.zeros(DataType.DOUBLE, t, d);
            for (int h = 0; h < heads; h++) {
                for (long qi = 0; qi < t; qi++) {
                    double[] score = new double[(int) t];
                    double max = Double.NEGATIVE_INFINITY;
                    for (long s = 0; s <= qi; s++) {
                        if (mask == null || mask.getDouble(b, s) != 0) {
                            double dot = 0;
                            for (long j = h * dh; j < (h + 1) * dh; j++) {
                                dot += q.getDouble(qi, j) * k.getDouble(s, j);
                            }
                            score[(int) s] = dot / Math.sqrt(dh);
                            max = Math.max(max, score[(int) s]);
                        }
                    }
                    double norm = 0;
                    double[] weight = new double[(int) t];
                    for (long s = 0; s <= qi; s++) {
                        if (mask == null || mask.getDouble(b, s) != 0) {
                            weight[(int) s] = Math.exp(score[(int) s] - max);
                            norm += weight[(int) s];
                        }
                    }
                    for (long j = h * dh; j < (h + 1) * dh; j++) {
                        double sum = 0;
                        for (long s = 0; s <= qi; s++) {
                            sum += weight[(int) s] / norm * v.getDouble(s, j);
                        }
                        context.putScalar(qi, j, norm == 0 ? 0 : sum);
                    }
                }
            }
            INDArray y = affine(context, p, CausalSelfAttention.W_OUT, CausalSelfAttention.B_OUT); // [T, d]
            for (long qi = 0; qi < t; qi++) {
                if (mask != null && mask.getDouble(b, qi) == 0) {
                    y.getRow(qi).assign(0);
                }
            }
            out.get(NDArrayIndex.point(b), NDArrayIndex.all(), NDArrayIndex.all()).assign(y.transpose());
        }
        return out;
    }

    private static INDArray affine(INDArray rows, Map<String, INDArray> p, String w, String b) {
        INDArray y = rows.mmul(p.get(w));
        return p.containsKey(b) ? y.addiRowVector(p.get(b)) : y;
    }

    @Test
    void matchesNaiveComputation() {
        MultiLayerNetwork net = network(attention().build());
        INDArray x = input(T);
        INDArray expected = reference(x, net.getLayer(0).paramTable(), HEADS, null);
        assertEquals(0.0, maxAbsDiff(expected, layerOutput(net, x, null)), 1e-12);
    }

    @Test
    void matchesNaiveComputationWithPaddingMaskAndWithoutBias() {
        MultiLayerNetwork net = network(attention().nHeads(4).hasBias(false).build());
        INDArray x = input(T);
        INDArray mask = SequenceNetworks.paddingMask(MB, T);
        mask.putScalar(0, 0, 0.0); // a masked key before real ones, not only padding at the end
        INDArray expected = reference(x, net.getLayer(0).paramTable(), 4, mask);
        INDArray actual = layerOutput(net, x, mask);
        assertEquals(0.0, maxAbsDiff(expected, actual), 1e-12);
        assertTrue(Double.isFinite(actual.sumNumber().doubleValue()), "a query without any visible key stays finite");
    }

    @Test
    void changingAFutureStepDoesNotChangeEarlierOutputs() {
        MultiLayerNetwork net = network(attention().build());
        INDArray x = input(T);
        INDArray y = layerOutput(net, x, null);
        int changed = 3;
        INDArray x2 = x.dup();
        x2.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(changed)).addi(5.0);
        INDArray y2 = layerOutput(net, x2, null);
        INDArray before = y.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(0, changed));
        assertEquals(before, y2.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(0, changed)),
                "outputs before the changed step");
        for (int t = changed; t < T; t++) {
            assertTrue(maxAbsDiff(y.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(t)),
                    y2.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(t))) > 1e-6,
                    "the changed step and later ones see the change, t=" + t);
        }
    }

    @Test
    void paddedStepsDoNotChangeRealOutputs() {
        MultiLayerNetwork net = network(attention().build());
        INDArray x = input(T);
        INDArray mask = SequenceNetworks.paddingMask(MB, T);
        INDArray y = layerOutput(net, x, mask);
        INDArray x2 = x.dup();
        INDArray noise = Nd4j.randn(DataType.DOUBLE, MB, D, T);
        for (int b = 0; b < MB; b++) {
            for (int t = 0; t < T; t++) {
                if (mask.getDouble(b, t) == 0) {
                    x2.get(NDArrayIndex.point(b), NDArrayIndex.all(), NDArrayIndex.point(t))
                            .assign(noise.get(NDArrayIndex.point(b), NDArrayIndex.all(), NDArrayIndex.point(t)));
                }
            }
        }
        assertEquals(y, layerOutput(net, x2, mask));
    }

    @Test
    void anySequenceLengthWorksOnOneNetworkForwardAndBackward() {
        MultiLayerNetwork net = network(attention().build());
        INDArray x = input(T);
        INDArray full = layerOutput(net, x, null);
        for (int t : new int[] {1, 3, 7}) {
            INDArray xt = t <= T ? x.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(0, t)).dup()
                    : input(t);
            INDArray y = layerOutput(net, xt, null);
            assertEquals(0.0, maxAbsDiff(reference(xt, net.getLayer(0).paramTable(), HEADS, null), y), 1e-12, "T=" + t);
            if (t <= T) {
                assertEquals(0.0,
                        maxAbsDiff(full.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(0, t)), y),
                        1e-12, "a prefix gives the prefix's outputs, T=" + t);
            }
            INDArray inputGradient = net.calculateGradients(xt,
                    Nd4j.randn(DataType.DOUBLE, MB, SequenceNetworks.OUT, t), null, null).getSecond();
            assertArrayEquals(xt.shape(), inputGradient.shape(), "backprop works for T=" + t + " too");
            assertTrue(Double.isFinite(inputGradient.sumNumber().doubleValue()));
        }
    }

    private static boolean gradientCheck(CausalSelfAttention layer, INDArray mask) {
        MultiLayerNetwork net = network(layer, D_CHECK);
        INDArray x = Nd4j.randn(DataType.DOUBLE, MB_CHECK, D_CHECK, T_CHECK);
        INDArray y = Nd4j.randn(DataType.DOUBLE, MB_CHECK, SequenceNetworks.OUT, T_CHECK);
        return GradientChecks.check(net, x, y, mask, mask);
    }

    @Test
    void gradientCheckWithoutMask() {
        assertTrue(gradientCheck(attention().build(), null));
    }

    @Test
    void gradientCheckWithPaddingMaskWithoutBias() {
        assertTrue(gradientCheck(attention().hasBias(false).build(), SequenceNetworks.paddingMask(MB_CHECK, T_CHECK)));
    }

    @Test
    void jsonRoundTrip() {
        SequenceNetworks.assertJsonRoundTrip(network(attention().hasBias(false).name("attn").build()), input(T));
    }

    @Test
    void modelSerializerRoundTrip(@TempDir Path dir) throws Exception {
        SequenceNetworks.assertModelSerializerRoundTrip(network(attention().build()), input(T), dir);
    }

    @Test
    void invalidConfigsAreRejectedWithNamedFieldValueAndFix() {
        assertRejected(() -> attention().name("attn").nIn(D).nHeads(3).build(),
                "CausalSelfAttention(name=attn)", "nHeads", "got 3", "must divide nIn=8", "nHeads(2)");
        assertRejected(() -> attention().name("attn").nIn(D).nHeads(0).build(),
                "CausalSelfAttention(name=attn)", "nHeads", "got 0", "try nHeads(1)");
        assertRejected(() -> attention().name("attn").nIn(-4).build(),
                "CausalSelfAttention(name=attn)", "nIn", "got -4", "set nIn(");
    }

    @Test
    void headsThatDoNotDivideAnInferredWidthAreRejectedAtConfigurationTime() {
        assertRejected(() -> GradientChecks.doubleNetwork(1).list()
                        .layer(attention().name("attn").nHeads(3).build())
                        .layer(new RnnOutputLayer.Builder().nOut(2).build())
                        .setInputType(InputType.recurrent(D))
                        .build(),
                "CausalSelfAttention(name=attn)", "nHeads", "got 3", "must divide nIn=8", "nHeads(2)");
    }

    @Test
    void feedForwardInputTypeIsRejected() {
        assertRejected(() -> GradientChecks.doubleNetwork(1).list()
                        .layer(attention().name("attn").build())
                        .layer(new RnnOutputLayer.Builder().nOut(2).build())
                        .setInputType(InputType.feedForward(D))
                        .build(),
                "CausalSelfAttention(name=attn)", "input type", "got FF", "use recurrent input [mb, d, T]");
    }

    @Test
    void configLoadedFromJsonIsValidatedToo() {
        MultiLayerConfiguration conf = network(attention().build()).getLayerWiseConfigurations();
        String json = conf.toJson();
        String broken = json.replace("\"nheads\" : " + HEADS, "\"nheads\" : 3");
        assertTrue(!broken.equals(json), "the test must actually corrupt the JSON: " + json);
        MultiLayerConfiguration loaded = MultiLayerConfiguration.fromJson(broken);
        assertRejected(() -> new MultiLayerNetwork(loaded).init(), "CausalSelfAttention", "nHeads", "got 3",
                "nHeads(2)");
    }

    @Test
    void wrongInputWidthNamesExpectedAndActual() {
        MultiLayerNetwork net = network(attention().name("attn").build());
        DL4JInvalidInputException e = assertThrows(DL4JInvalidInputException.class,
                () -> net.output(Nd4j.randn(DataType.DOUBLE, MB, D + 2, T)));
        assertTrue(e.getMessage().contains("CausalSelfAttention(name=attn)") && e.getMessage().contains("nIn=" + D)
                && e.getMessage().contains("[3, 10, 5]"), e.getMessage());
    }
}
