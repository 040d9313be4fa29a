package io.github.dl4jmoe.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.dl4jmoe.layers.DenseFeedForward;
import io.github.dl4jmoe.layers.PeerLayer;
import io.github.dl4jmoe.layers.PeerLayer.TableUpdates;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

class HostUpdatedStepTest {

    private static final int D = 8;

    private static MultiLayerNetwork network(Layer middle) {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().seed(3)
                .dataType(DataType.FLOAT)
                .updater(new Adam(1e-2)).list()
                .layer(new DenseLayer.Builder().nOut(D).activation(Activation.TANH).build())
                .layer(middle)
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(2)
                        .activation(Activation.IDENTITY).build())
                .setInputType(InputType.feedForward(5)).build());
        net.init();
        return net;
    }

    private static PeerLayer peer() {
        return new PeerLayer.Builder().numExperts(64).heads(2).topK(3).keySize(4).tableUpdates(TableUpdates.SPARSE)
                .build();
    }

    @Test
    void trainingWithTheStepChangesNoValue() {
        MultiLayerNetwork standard = network(peer());
        MultiLayerNetwork skipping = network(peer());
        assertEquals(standard.params(), skipping.params());
        assertTrue(HostUpdatedStep.install(skipping));
        Nd4j.getRandom().setSeed(5);
        DataSet data = new DataSet(Nd4j.randn(DataType.FLOAT, 16, 5), Nd4j.randn(DataType.FLOAT, 16, 2));
        INDArray before = skipping.params().dup();
        for (int i = 0; i < 5; i++) {
            standard.fit(data);
            skipping.fit(data);
        }
        assertEquals(standard.params(), skipping.params());
        for (String key : new String[] {PeerLayer.DOWN, PeerLayer.UP}) {
            long[] range = range(skipping, key);
            INDArray moved = skipping.params().get(NDArrayIndex.interval(range[0], range[1]))
                    .sub(before.get(NDArrayIndex.interval(range[0], range[1])));
            assertTrue(moved.amaxNumber().doubleValue() > 0, key + " is still updated, by the layer");
        }
    }

    @Test
    void theSkippedRangesAreExactlyTheHostUpdatedTables() {
        MultiLayerNetwork net = network(peer());
        long[][] skipped = HostUpdatedStep.hostUpdatedRanges(net);
        assertEquals(2, skipped.length);
        long table = 64L * D;
        for (long[] r : skipped) {
            assertEquals(table, r[1] - r[0]);
        }
        assertArrayEquals(new long[] {range(net, PeerLayer.DOWN)[0], range(net, PeerLayer.UP)[0]},
                new long[] {skipped[0][0], skipped[1][0]});
        long[][] kept = HostUpdatedStep.complement(skipped, net.numParams());
        long covered = 0;
        for (long[] r : kept) {
            covered += r[1] - r[0];
        }
        assertEquals(net.numParams() - 2 * table, covered);
    }

    @Test
    void complementOfIntervals() {
        assertArrayEquals(new long[][] {{0, 2}, {5, 7}, {9, 10}},
                HostUpdatedStep.complement(new long[][] {{2, 5}, {7, 9}}, 10));
        assertArrayEquals(new long[][] {{3, 4}}, HostUpdatedStep.complement(new long[][] {{0, 3}, {4, 8}}, 8));
    }

    @Test
    void networksWithoutHostUpdatedParametersAreLeftAlone() {
        assertFalse(HostUpdatedStep.install(network(new DenseFeedForward.Builder().dFf(6).build())));
        assertFalse(HostUpdatedStep.install(network(new PeerLayer.Builder().numExperts(64).heads(2).topK(3).keySize(4)
                .tableUpdates(TableUpdates.DENSE).build())));
    }

    /** The flattened-vector interval of the PEER layer's parameter {@code key}, found by value. */
    private static long[] range(MultiLayerNetwork net, String key) {
        INDArray view = net.getLayer(1).getParam(key);
        INDArray flat = net.params();
        long n = view.length();
        for (long from = 0; from + n <= flat.length(); from++) {
            if (flat.get(NDArrayIndex.interval(from, from + n)).equals(view.reshape(n))) {
                return new long[] {from, from + n};
            }
        }
        throw new AssertionError(key + " not found in the parameter vector");
    }
}
