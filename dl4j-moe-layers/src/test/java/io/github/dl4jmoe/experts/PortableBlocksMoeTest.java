package io.github.dl4jmoe.experts;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.github.dl4jmoe.host.RowBuffer;
import io.github.dl4jmoe.layers.FfnActivation;
import io.github.dl4jmoe.layers.FineRMoeLayer;
import io.github.dl4jmoe.layers.MoeFeedForward;
import io.github.dl4jmoe.routing.TopKRouter;
import io.github.dl4jmoe.routing.TopPRouter;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * The routed experts train the same on the CPU path of their products (BLAS on row blocks) and on the portable path
 * the CUDA backend takes ({@code Nd4j.gemm} on views): outputs and every parameter after Adam steps, for top-k with
 * capacity drops (experts left without rows), top-p and FineRMoE's output groups.
 */
class PortableBlocksMoeTest {

    @AfterEach
    void defaultPath() {
        System.clearProperty(RowBuffer.FORCE_PORTABLE);
    }

    enum Kind {
        TOP_K_WITH_DROPS, TOP_P_RELU, FINE_R_MOE
    }

    private static Layer layer(Kind kind) {
        return switch (kind) {
            case TOP_K_WITH_DROPS -> new MoeFeedForward.Builder().numExperts(6).expertHidden(5)
                    .router(new TopKRouter(2)).capacityFactor(0.5).activation(FfnActivation.SWIGLU).build();
            case TOP_P_RELU -> new MoeFeedForward.Builder().numExperts(4).expertHidden(3)
                    .router(new TopPRouter(0.6)).activation(FfnActivation.RELU).build();
            case FINE_R_MOE -> new FineRMoeLayer.Builder().dFf(16).inputGranularity(2).outputGranularity(2)
                    .outputExpansion(2).topInput(1).build();
        };
    }

    private static MultiLayerNetwork network(Kind kind, DataType type) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(5).dataType(type)
                .updater(new Adam(1e-2)).list()
                .layer(layer(kind))
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(3)
                        .activation(Activation.IDENTITY).build())
                .setInputType(InputType.feedForward(8)).build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    @ParameterizedTest
    @EnumSource(Kind.class)
    void cpuAndPortableProductsTrainTheSame(Kind kind) {
        for (DataType type : new DataType[] {DataType.DOUBLE, DataType.FLOAT}) {
            double tolerance = type == DataType.DOUBLE ? 1e-12 : 1e-5;
            MultiLayerNetwork raw = network(kind, type);
            MultiLayerNetwork portable = network(kind, type);
            portable.setParams(raw.params().dup());
            Nd4j.getRandom().setSeed(2);
            DataSet batch = new DataSet(Nd4j.randn(type, 24, 8), Nd4j.randn(type, 24, 3));
            for (int step = 0; step < 3; step++) {
                System.clearProperty(RowBuffer.FORCE_PORTABLE);
                raw.fit(batch);
                System.setProperty(RowBuffer.FORCE_PORTABLE, "true");
                portable.fit(batch);
            }
            INDArray portableOut = portable.output(batch.getFeatures());
            System.clearProperty(RowBuffer.FORCE_PORTABLE);
            INDArray rawOut = raw.output(batch.getFeatures());
            String what = kind + " " + type;
            assertEquals(0.0, rawOut.sub(portableOut).amaxNumber().doubleValue(), tolerance, what + " output");
            assertEquals(0.0, raw.params().sub(portable.params()).amaxNumber().doubleValue(), tolerance,
                    what + " parameters");
        }
    }
}
