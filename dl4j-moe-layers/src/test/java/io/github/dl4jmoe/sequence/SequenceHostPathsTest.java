package io.github.dl4jmoe.sequence;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.dl4jmoe.host.Parallelism;
import io.github.dl4jmoe.host.RowBuffer;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * The sequence layers' CPU paths against their portable ones, on batches large enough to be split over threads: the
 * attention's Java softmax ({@link AttentionSoftmax}) and per-slice BLAS products against ND4J's softmax and batched
 * products ({@link RowBuffer#FORCE_PORTABLE}); LayerNorm on 2 and 3 threads against 1. Outputs, the input gradient and
 * every parameter gradient, in double and single precision, with a mask that pads one sequence and masks another
 * completely.
 */
class SequenceHostPathsTest {

    private static final int MB = 6;
    private static final int D = 8;
    private static final int T = 40;          // MB x 2 heads x T x T scores: above AttentionSoftmax's parallel minimum

    @AfterEach
    void defaults() {
        System.clearProperty(RowBuffer.FORCE_PORTABLE);
        System.clearProperty(Parallelism.PROPERTY);
    }

    private static MultiLayerNetwork network(Layer layer, DataType type) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(3).dataType(type).list()
                .layer(layer)
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(3)
                        .activation(Activation.IDENTITY).build())
                .setInputType(InputType.recurrent(D, T)).build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    private static INDArray mask(DataType type) {
        INDArray mask = Nd4j.ones(type, MB, T);
        mask.get(NDArrayIndex.point(1), NDArrayIndex.interval(25, T)).assign(0);        // padded
        mask.get(NDArrayIndex.point(3), NDArrayIndex.all()).assign(0);                  // fully masked
        mask.putScalar(4, 0, 0.0);                                                      // a masked first key
        return mask;
    }

    /** Output, input gradient and parameter gradients of one pass, flattened in that order. */
    private static INDArray pass(MultiLayerNetwork net, INDArray x, INDArray labels, INDArray mask) {
        net.setLayerMaskArrays(mask, mask);
        INDArray out = net.feedForward(x, true).get(1).dup();
        Pair<Gradient, INDArray> g = net.calculateGradients(x, labels, mask, mask);
        return Nd4j.toFlattened(out, g.getSecond(), g.getFirst().gradient());
    }

    private static void assertSamePasses(Layer layer, Runnable fast, Runnable reference) {
        for (DataType type : new DataType[] {DataType.DOUBLE, DataType.FLOAT}) {
            Nd4j.getRandom().setSeed(11);
            MultiLayerNetwork net = network(layer, type);
            net.getLayer(0).params().addi(Nd4j.randn(type, net.getLayer(0).params().shape()).muli(0.3));
            INDArray x = Nd4j.randn(type, MB, D, T);
            INDArray labels = Nd4j.randn(type, MB, 3, T);
            reference.run();
            INDArray expected = pass(net, x, labels, mask(type));
            fast.run();
            INDArray actual = pass(net, x, labels, mask(type));
            assertTrue(expected.sumNumber().doubleValue() != 0 && Double.isFinite(actual.sumNumber().doubleValue()));
            double scale = Math.max(1, expected.amaxNumber().doubleValue());      // float rounding is relative
            double tolerance = (type == DataType.DOUBLE ? 1e-12 : 1e-5) * scale;
            assertEquals(0.0, actual.sub(expected).amaxNumber().doubleValue(), tolerance,
                    layer.getClass().getSimpleName() + " " + type + ", largest value " + scale);
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3})
    void attentionOnTheCpuPathGivesThePortableResults(int threads) {
        System.setProperty(Parallelism.PROPERTY, String.valueOf(threads));
        assertSamePasses(new CausalSelfAttention.Builder().nHeads(2).build(),
                () -> System.clearProperty(RowBuffer.FORCE_PORTABLE),
                () -> System.setProperty(RowBuffer.FORCE_PORTABLE, "true"));
    }

    /** FLOAT16 arrays take ND4J's softmax on the CPU too (the Java rows are FLOAT or DOUBLE), as on other backends. */
    @Test
    void attentionInHalfPrecisionTrainsOnTheCpuBackend() {
        Nd4j.getRandom().setSeed(12);
        MultiLayerNetwork net = network(new CausalSelfAttention.Builder().nHeads(2).build(), DataType.FLOAT16);
        INDArray x = Nd4j.randn(DataType.FLOAT16, MB, D, T);
        INDArray labels = Nd4j.randn(DataType.FLOAT16, MB, 3, T);
        INDArray cpu = pass(net, x, labels, mask(DataType.FLOAT16));
        System.setProperty(RowBuffer.FORCE_PORTABLE, "true");
        INDArray portable = pass(net, x, labels, mask(DataType.FLOAT16));
        assertTrue(Double.isFinite(cpu.sumNumber().doubleValue()));
        assertEquals(0.0, cpu.sub(portable).amaxNumber().doubleValue(), 0.0);
    }

    /** LayerNorm computes FLOAT16 input in double precision (a cast copy): the double network's pass, rounded. */
    @Test
    void layerNormInHalfPrecisionAgreesWithDouble() {
        Nd4j.getRandom().setSeed(13);
        MultiLayerNetwork half = network(new LayerNorm.Builder().build(), DataType.FLOAT16);
        MultiLayerNetwork reference = network(new LayerNorm.Builder().build(), DataType.DOUBLE);
        reference.setParams(half.params().castTo(DataType.DOUBLE));
        INDArray x = Nd4j.randn(DataType.FLOAT16, MB, D, T);
        INDArray labels = Nd4j.randn(DataType.FLOAT16, MB, 3, T);
        INDArray expected = pass(reference, x.castTo(DataType.DOUBLE), labels.castTo(DataType.DOUBLE),
                mask(DataType.DOUBLE));
        INDArray actual = pass(half, x, labels, mask(DataType.FLOAT16)).castTo(DataType.DOUBLE);
        double scale = Math.max(1, expected.amaxNumber().doubleValue());
        assertEquals(0.0, actual.sub(expected).amaxNumber().doubleValue(), 1e-2 * scale);
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 3})
    void layerNormOnThreadsGivesTheResultsOfOne(int threads) {
        assertSamePasses(new LayerNorm.Builder().build(),
                () -> System.setProperty(Parallelism.PROPERTY, String.valueOf(threads)),
                () -> System.setProperty(Parallelism.PROPERTY, "1"));
    }
}
