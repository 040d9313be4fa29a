package io.github.dl4jmoe.layers;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.dl4jmoe.routing.TopKRouter;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * A task made for experts: inputs come from one of several clusters and each cluster has its own teacher, a random
 * SwiGLU block of the experts' size. With the same number of parameters active per token, a mixture can give each
 * cluster its own weights while a dense block must share them, so the mixture should reach a lower held-out loss.
 */
class MoeLearningTest {

    private static final int D = 8;
    private static final int OUT = 4;
    private static final int CLUSTERS = 4;
    private static final int EXPERTS = 4;
    private static final int K = 1;
    private static final int EXPERT_HIDDEN = 8;
    private static final int STEPS = 300;
    private static final int BATCH = 64;

    /** Cluster centers and per-cluster teachers {@code (silu(x Wg) * (x Wu)) Wd}. */
    private static final class Task {
        final INDArray centers = Nd4j.randn(DataType.FLOAT, CLUSTERS, D).muli(2);
        final INDArray[][] teachers = new INDArray[CLUSTERS][];

        Task() {
            double scale = 1 / Math.sqrt(D);
            for (int c = 0; c < CLUSTERS; c++) {
                teachers[c] = new INDArray[] {Nd4j.randn(DataType.FLOAT, D, EXPERT_HIDDEN).muli(scale),
                        Nd4j.randn(DataType.FLOAT, D, EXPERT_HIDDEN).muli(scale),
                        Nd4j.randn(DataType.FLOAT, EXPERT_HIDDEN, OUT).muli(1 / Math.sqrt(EXPERT_HIDDEN))};
            }
        }

        INDArray teach(int c, INDArray x) {
            INDArray gate = x.mmul(teachers[c][0]);
            INDArray hidden = gate.mul(Transforms.sigmoid(gate, true)).mul(x.mmul(teachers[c][1]));
            return hidden.mmul(teachers[c][2]);
        }

        DataSet sample(int n) {
            INDArray x = Nd4j.randn(DataType.FLOAT, n, D);
            INDArray y = Nd4j.create(DataType.FLOAT, n, OUT);
            for (int i = 0; i < n; i++) {
                int c = i % CLUSTERS;
                INDArray xi = x.getRow(i, true).addi(centers.getRow(c, true));
                y.getRow(i, true).assign(teach(c, xi));
            }
            return new DataSet(x, y);
        }
    }

    private static MultiLayerNetwork network(org.deeplearning4j.nn.conf.layers.Layer block) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(5).dataType(DataType.FLOAT).updater(new Adam(1e-2))
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
    void moeBeatsDenseWithTheSameActiveParameterCount() {
        Nd4j.getRandom().setSeed(Long.getLong("moe.seed", 2025));
        Task task = new Task();
        DataSet heldOut = task.sample(1024);

        // Renormalised top-1 gates are always 1, so the router learns nothing from the task: the mixture wins by a
        // random router that already separates the clusters, which XAVIER's large logits do. From the default
        // N(0, 0.02) the load-balance loss reshuffles the small router under Adam and the mixture loses its edge
        // (measured with this seed: held-out MSE 1.763 against the dense block's 0.967; XAVIER 0.686).
        MultiLayerNetwork moe = network(new MoeFeedForward.Builder().numExperts(EXPERTS).expertHidden(EXPERT_HIDDEN)
                .router(new TopKRouter(K, true)).routerWeightInit(WeightInit.XAVIER).build());
        long moeActive = K * 3L * D * EXPERT_HIDDEN + (long) D * EXPERTS;                  // k SwiGLU experts + router
        long denseHidden = (moeActive + 3L * D - 1) / (3L * D);                            // round up: dense gets >=
        MultiLayerNetwork dense = network(new DenseFeedForward.Builder().dFf(denseHidden)
                .activation(FfnActivation.SWIGLU).hasBias(false).build());
        assertTrue(3 * D * denseHidden >= moeActive, "dense block must have at least the MoE's active parameters");

        for (int step = 0; step < STEPS; step++) {
            DataSet batch = task.sample(BATCH);
            moe.fit(batch);
            dense.fit(batch);
        }
        double moeLoss = moe.score(heldOut);
        double denseLoss = dense.score(heldOut);
        System.out.printf("held-out MSE after %d steps: MoE %.4f, dense %.4f%n", STEPS, moeLoss, denseLoss);
        assertTrue(moeLoss < 0.8 * denseLoss, "MoE held-out loss " + moeLoss + " vs dense " + denseLoss
                + " (active parameters " + moeActive + " vs " + 3 * D * denseHidden + ")");
    }
}
