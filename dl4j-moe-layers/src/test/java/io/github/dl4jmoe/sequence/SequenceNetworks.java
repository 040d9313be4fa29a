package io.github.dl4jmoe.sequence;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.File;
import java.io.IOException;
import java.nio.file.Path;

import io.github.dl4jmoe.testutil.GradientChecks;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/** Small double-precision networks around one sequence layer, and the checks every layer's test shares. */
final class SequenceNetworks {

    static final int OUT = 3;

    private SequenceNetworks() {
    }

    /** {@code layer -> RnnOutputLayer(MSE, identity)} on recurrent input {@code [mb, d, T]}. */
    static MultiLayerNetwork recurrent(Layer layer, int d) {
        return network(layer, new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(OUT)
                .activation(Activation.IDENTITY).build(), InputType.recurrent(d));
    }

    /** {@code layer -> OutputLayer(MSE, identity)} on feed-forward input {@code [mb, d]}. */
    static MultiLayerNetwork feedForward(Layer layer, int d) {
        return network(layer, new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(OUT)
                .activation(Activation.IDENTITY).build(), InputType.feedForward(d));
    }

    private static MultiLayerNetwork network(Layer layer, Layer output, InputType inputType) {
        MultiLayerConfiguration conf = GradientChecks.doubleNetwork(7).list()
                .layer(layer)
                .layer(output)
                .setInputType(inputType)
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    /** The first layer's output for {@code x}, inference mode, with an optional time-step mask. */
    static INDArray layerOutput(MultiLayerNetwork net, INDArray x, INDArray mask) {
        net.setLayerMaskArrays(mask, null);
        try {
            return net.feedForward(x, false).get(1).dup();
        } finally {
            net.clearLayerMaskArrays();
        }
    }

    /** A {@code [mb, T]} mask: sequence 1 ends after two steps, sequence 2 after four (when mb, T allow). */
    static INDArray paddingMask(int mb, int t) {
        INDArray mask = Nd4j.ones(DataType.DOUBLE, mb, t);
        mask.get(NDArrayIndex.point(1 % mb), NDArrayIndex.interval(2, t)).assign(0);
        if (mb > 2 && t > 4) {
            mask.get(NDArrayIndex.point(2), NDArrayIndex.interval(4, t)).assign(0);
        }
        return mask;
    }

    /** JSON round trip: equal configuration, and a network built from it computes the same with the same params. */
    static void assertJsonRoundTrip(MultiLayerNetwork net, INDArray x) {
        MultiLayerConfiguration conf = net.getLayerWiseConfigurations();
        MultiLayerConfiguration back = MultiLayerConfiguration.fromJson(conf.toJson());
        assertEquals(conf.getConf(0).getLayer(), back.getConf(0).getLayer());
        assertEquals(conf, back);
        MultiLayerNetwork rebuilt = new MultiLayerNetwork(back);
        rebuilt.init(net.params().dup(), false);
        assertEquals(net.output(x), rebuilt.output(x));
    }

    /** ModelSerializer round trip: same parameters and identical outputs. */
    static void assertModelSerializerRoundTrip(MultiLayerNetwork net, INDArray x, Path dir) throws IOException {
        File file = dir.resolve("net.zip").toFile();
        ModelSerializer.writeModel(net, file, true);
        MultiLayerNetwork restored = ModelSerializer.restoreMultiLayerNetwork(file, true);
        assertEquals(net.params(), restored.params());
        assertEquals(net.output(x), restored.output(x));
    }

    static double maxAbsDiff(INDArray a, INDArray b) {
        return a.sub(b).amaxNumber().doubleValue();
    }
}
