package io.github.dl4jmoe.layers;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * A memorisation task that rewards many experts: each of many input prototypes has its own random target. PEER with
 * h * k active neurons out of N can devote different neurons to different prototypes; a dense GELU block with the
 * same h * k hidden neurons must share them all, so PEER should reach a lower loss.
 */
class PeerLearningTest {

    private static final int D = 16;
    private static final int OUT = 4;
    private static final int PROTOTYPES = 64;
    private static final int HEADS = 2;
    private static final int TOP_K = 4;
    private static final int STEPS = 250;

    private static MultiLayerNetwork network(org.deeplearning4j.nn.conf.layers.Layer block) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(3).dataType(DataType.FLOAT).updater(new Adam(1e-2))
                .list()
                .layer(block)
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(OUT)
                        .activation(Activation.IDENTITY).build())
                .setInputType(InputType.feedForward(D))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    @Test
    void peerBeatsDenseWithTheSameActiveNeurons() {
        Nd4j.getRandom().setSeed(Long.getLong("peer.seed", 11));
        INDArray prototypes = Nd4j.randn(DataType.FLOAT, PROTOTYPES, D);
        INDArray targets = Nd4j.randn(DataType.FLOAT, PROTOTYPES, OUT);
        MultiLayerNetwork peer = network(new PeerLayer.Builder().numExperts(32 * 32).heads(HEADS).topK(TOP_K)
                .keySize(8).build());
        MultiLayerNetwork dense = network(new DenseFeedForward.Builder().dFf((long) HEADS * TOP_K)
                .activation(FfnActivation.GELU).build());
        for (int step = 0; step < STEPS; step++) {
            int[] rows = new java.util.Random(step).ints(64, 0, PROTOTYPES).toArray();
            DataSet batch = new DataSet(Nd4j.pullRows(prototypes, 1, rows), Nd4j.pullRows(targets, 1, rows));
            peer.fit(batch);
            dense.fit(batch);
        }
        DataSet all = new DataSet(prototypes, targets);
        double peerLoss = peer.score(all);
        double denseLoss = dense.score(all);
        System.out.printf("memorisation MSE after %d steps: PEER %.4f, dense %.4f%n", STEPS, peerLoss, denseLoss);
        assertTrue(peerLoss < 0.8 * denseLoss, "PEER " + peerLoss + " vs dense " + denseLoss);
    }
}
