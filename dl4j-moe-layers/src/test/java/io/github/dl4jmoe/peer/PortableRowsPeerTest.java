package io.github.dl4jmoe.peer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.github.dl4jmoe.host.RowBuffer;
import io.github.dl4jmoe.layers.PeerLayer;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * PEER trains identically on the CPU-only raw row copies and on the portable row path the CUDA backend uses: outputs,
 * and every parameter (expert tables with their lazy Adam updates included) after training steps, with the experts
 * computed either way ({@link PeerPath}).
 */
class PortableRowsPeerTest {

    @AfterEach
    void defaultPath() {
        System.clearProperty(RowBuffer.FORCE_PORTABLE);
        System.clearProperty(PeerPath.PROPERTY);
    }

    private static MultiLayerNetwork network(DataType type) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(3).dataType(type)
                .updater(new Adam(1e-2)).list()
                .layer(new PeerLayer.Builder().numExperts(64).heads(2).topK(4).keySize(8).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(3)
                        .activation(Activation.IDENTITY).build())
                .setInputType(InputType.feedForward(6)).build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    /** On both expert paths: products over all 64 experts (the default at this size) and loops over retrieved rows. */
    @ParameterizedTest
    @CsvSource({"FLOAT, DENSE", "DOUBLE, DENSE", "FLOAT, SPARSE", "DOUBLE, SPARSE"})
    void rawAndPortableRowsTrainIdentically(DataType type, PeerPath path) {
        System.setProperty(PeerPath.PROPERTY, path.name());
        MultiLayerNetwork raw = network(type);
        MultiLayerNetwork portable = network(type);
        portable.setParams(raw.params().dup());
        DataSet batch = new DataSet(Nd4j.randn(type, 16, 6), Nd4j.randn(type, 16, 3));
        for (int step = 0; step < 3; step++) {
            System.clearProperty(RowBuffer.FORCE_PORTABLE);
            raw.fit(batch);
            System.setProperty(RowBuffer.FORCE_PORTABLE, "true");
            portable.fit(batch);
        }
        INDArray portableOut = portable.output(batch.getFeatures());
        System.clearProperty(RowBuffer.FORCE_PORTABLE);
        assertEquals(0.0, raw.output(batch.getFeatures()).sub(portableOut).amaxNumber().doubleValue(), 0.0, "output");
        assertEquals(0.0, raw.params().sub(portable.params()).amaxNumber().doubleValue(), 0.0, "parameters");
    }
}
