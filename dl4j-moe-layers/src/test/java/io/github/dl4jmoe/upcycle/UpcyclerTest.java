package io.github.dl4jmoe.upcycle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Path;
import java.util.Map;

import io.github.dl4jmoe.layers.DenseFeedForward;
import io.github.dl4jmoe.layers.FfnActivation;
import io.github.dl4jmoe.layers.FineRMoeLayer;
import io.github.dl4jmoe.layers.MoeFeedForward;
import io.github.dl4jmoe.routing.TopKRouter;
import io.github.dl4jmoe.runtime.BaseMoeLayer;
import org.deeplearning4j.exception.DL4JInvalidConfigException;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

class UpcyclerTest {

    private static final int D = 8;
    private static final int F = 16;
    private static final int OUT = 3;

    @BeforeEach
    void floatPrecision() {
        Nd4j.setDefaultDataTypes(DataType.FLOAT, DataType.FLOAT);
        Nd4j.getRandom().setSeed(77);
    }

    /** A small trained-looking dense network: Dense -> FFN -> FFN -> output (two blocks to convert). */
    private static MultiLayerNetwork dense() {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(4).dataType(DataType.FLOAT)
                .updater(new Adam(1e-2)).list()
                .layer(new DenseLayer.Builder().nOut(D).activation(Activation.TANH).build())
                .layer(new DenseFeedForward.Builder().dFf(F).activation(FfnActivation.SWIGLU).hasBias(false).build())
                .layer(new DenseFeedForward.Builder().dFf(F).activation(FfnActivation.SWIGLU).hasBias(false).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(OUT)
                        .activation(Activation.IDENTITY).build())
                .setInputType(InputType.feedForward(5))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        DataSet ds = new DataSet(Nd4j.randn(DataType.FLOAT, 64, 5), Nd4j.randn(DataType.FLOAT, 64, OUT));
        for (int i = 0; i < 20; i++) {
            net.fit(ds);
        }
        return net;
    }

    private static FineRMoeLayer.Builder fine() {
        return new FineRMoeLayer.Builder().dFf(F).inputGranularity(4).outputGranularity(2).outputExpansion(2);
    }

    private static double maxDifference(INDArray a, INDArray b) {
        return a.sub(b).amaxNumber().doubleValue();
    }

    @Test
    void preservingFineRMoeComputesTheDenseFunction() {
        MultiLayerNetwork dense = dense();
        INDArray before = dense.params().dup();
        MultiLayerNetwork moe = Upcycler.of(UpcycleMode.PRESERVING).upcycle(dense, Map.of(
                1, fine().topInput(4).inputExpansion(2).concatProjection(true).sharedHidden(F).sharedGate(true).build(),
                2, fine().topInput(4).build()));
        INDArray x = Nd4j.randn(DataType.FLOAT, 50, 5);
        var denseActs = dense.feedForward(x, false);
        var moeActs = moe.feedForward(x, false);
        for (int block : new int[] {2, 3}) {
            assertTrue(maxDifference(denseActs.get(block), moeActs.get(block)) <= 1e-5, "block output " + block);
        }
        // each converted block alone, on the same input
        INDArray blockInput = denseActs.get(1);
        INDArray alone = moe.getLayer(1).activate(blockInput, false,
                org.deeplearning4j.nn.workspace.LayerWorkspaceMgr.noWorkspaces());
        assertTrue(maxDifference(denseActs.get(2), alone) <= 1e-5);
        assertTrue(maxDifference(dense.output(x), moe.output(x)) <= 1e-5, "whole network");

        DataSet ds = new DataSet(x, Nd4j.randn(DataType.FLOAT, 50, OUT));
        assertEquals(dense.score(ds), moe.score(ds)
                        - ((io.github.dl4jmoe.runtime.MoeLayerRuntime) moe.getLayer(1)).auxiliaryScore()
                        - ((io.github.dl4jmoe.runtime.MoeLayerRuntime) moe.getLayer(2)).auxiliaryScore(),
                1e-5, "first training loss equals the dense one (plus the load-balance terms the MoE adds)");
        assertEquals(before, dense.params(), "the original network is untouched");
    }

    @Test
    void theUpcycledNetworkCountsIterationsAndEpochsFromZero() {
        MultiLayerNetwork dense = dense();                                     // trained 20 steps
        dense.incrementEpochCount();
        MultiLayerNetwork moe = Upcycler.of(UpcycleMode.PRESERVING).upcycle(dense, Map.of(1, fine().topInput(4)
                .build()));
        assertEquals(20, dense.getIterationCount());
        assertEquals(1, dense.getEpochCount());
        assertEquals(0, moe.getIterationCount(), "a fresh updater counts from 0 (Adam's bias correction)");
        assertEquals(0, moe.getEpochCount());
    }

    @Test
    void preservingWithoutAuxiliaryLossGivesTheSameFirstTrainingLoss() {
        MultiLayerNetwork dense = dense();
        MultiLayerNetwork moe = Upcycler.of(UpcycleMode.PRESERVING).upcycle(dense,
                Map.of(2, fine().topInput(4).loadBalanceCoefficient(0).build()));
        DataSet ds = new DataSet(Nd4j.randn(DataType.FLOAT, 40, 5), Nd4j.randn(DataType.FLOAT, 40, OUT));
        dense.setInput(ds.getFeatures());
        dense.setLabels(ds.getLabels());
        dense.computeGradientAndScore();
        moe.setInput(ds.getFeatures());
        moe.setLabels(ds.getLabels());
        moe.computeGradientAndScore();
        assertEquals(dense.score(), moe.score(), 1e-5);
    }

    @Test
    void preservingFineGrainedMoeComputesTheDenseFunction() {
        MultiLayerNetwork dense = dense();
        for (boolean renormalize : new boolean[] {true, false}) {
            MultiLayerNetwork moe = Upcycler.of(UpcycleMode.PRESERVING).upcycle(dense, Map.of(1,
                    new MoeFeedForward.Builder().numExperts(8).expertHidden(4).router(new TopKRouter(4, renormalize))
                            .build()));
            INDArray x = Nd4j.randn(DataType.FLOAT, 30, 5);
            assertTrue(maxDifference(dense.output(x), moe.output(x)) <= 1e-5, "renormalize " + renormalize);
        }
    }

    @Test
    void preservingRejectsConfigurationsThatCannotPreserveAndSaysWhichCan() {
        MultiLayerNetwork dense = dense();
        DL4JInvalidConfigException e = assertThrows(DL4JInvalidConfigException.class,
                () -> Upcycler.of(UpcycleMode.PRESERVING).upcycle(dense, Map.of(1, fine().topInput(1).build())));
        assertTrue(e.getMessage().contains("topInput = inputGranularity") && e.getMessage().contains("AUTHORS"),
                e.getMessage());
        e = assertThrows(DL4JInvalidConfigException.class, () -> Upcycler.of(UpcycleMode.PRESERVING).upcycle(dense,
                Map.of(1, new MoeFeedForward.Builder().numExperts(8).expertHidden(4).router(new TopKRouter(2))
                        .build())));
        assertTrue(e.getMessage().contains("k = dFf / expertHidden = 4"), e.getMessage());
    }

    @Test
    void authorsSlicesMatchTheFormulaElementWise() {
        MultiLayerNetwork dense = dense();
        for (long shared : new long[] {0, F}) {
            FineRMoeLayer target = fine().inputExpansion(2).topInput(1).sharedHidden(shared).build();
            MultiLayerNetwork moe = Upcycler.of(UpcycleMode.AUTHORS).upcycle(dense, Map.of(1, target));
            Map<String, INDArray> src = dense.getLayer(1).paramTable();
            Map<String, INDArray> p = moe.getLayer(1).paramTable();
            int gi = 4;
            int ri = 2;
            int ro = 2;
            int h = F / gi;
            int w = D / 2;
            double c = shared > 0 ? 1 : gi;
            INDArray up = p.get(FineRMoeLayer.W_EXPERT_UP).dup();
            INDArray gate = p.get(FineRMoeLayer.W_EXPERT_GATE).dup();
            INDArray down = p.get(FineRMoeLayer.W_EXPERT_DOWN).dup();
            for (int e = 0; e < 32; e++) {
                int j = (e % (gi * ri)) % gi;
                int g = e / (ro * gi * ri);
                for (int a = 0; a < D; a++) {
                    for (int b = 0; b < h; b++) {
                        assertEquals(src.get(DenseFeedForward.W_UP).getDouble(a, j * h + b), up.getDouble(e, a, b),
                                0.0);
                        assertEquals(src.get(DenseFeedForward.W_GATE).getDouble(a, j * h + b),
                                gate.getDouble(e, a, b), 0.0);
                    }
                }
                for (int b = 0; b < h; b++) {
                    for (int o = 0; o < w; o++) {
                        assertEquals(c * src.get(DenseFeedForward.W_DOWN).getDouble(j * h + b, g * w + o),
                                down.getDouble(e, b, o), 1e-6, "expert " + e);
                    }
                }
            }
            if (shared > 0) {
                assertEquals(src.get(DenseFeedForward.W_DOWN), p.get(io.github.dl4jmoe.experts.SharedExpert.W_DOWN));
            }
            INDArray router = p.get(FineRMoeLayer.W_ROUTER);
            double std = router.stdNumber().doubleValue();
            assertTrue(std > 0.01 && std < 0.03, "router ~ N(0, 0.02): std " + std);
        }
    }

    @Test
    void copyMakesEveryExpertTheDenseBlockAndDropUpcyclingRedrawsAFraction() {
        MultiLayerNetwork dense = dense();
        MoeFeedForward target = new MoeFeedForward.Builder().numExperts(4).expertHidden(F).router(new TopKRouter(1))
                .build();
        Map<String, INDArray> src = dense.getLayer(1).paramTable();
        MultiLayerNetwork copy = Upcycler.of(UpcycleMode.COPY).upcycle(dense, Map.of(1, target));
        MultiLayerNetwork dropped = Upcycler.of(UpcycleMode.COPY).dropUpcycling(0.25).upcycle(dense, Map.of(1, target));
        INDArray copyUp = copy.getLayer(1).getParam(MoeFeedForward.W_EXPERT_UP).dup();
        INDArray dropUp = dropped.getLayer(1).getParam(MoeFeedForward.W_EXPERT_UP).dup();
        for (int e = 0; e < 4; e++) {
            assertEquals(src.get(DenseFeedForward.W_UP),
                    copyUp.get(NDArrayIndex.point(e), NDArrayIndex.all(), NDArrayIndex.all()));
            int changed = 0;
            for (int u = 0; u < F; u++) {
                INDArray column = dropUp.get(NDArrayIndex.point(e), NDArrayIndex.all(), NDArrayIndex.point(u));
                if (!column.equals(src.get(DenseFeedForward.W_UP).getColumn(u))) {
                    changed++;
                }
            }
            assertEquals(Math.round(0.25 * F), changed, "expert " + e);
        }
        // a copied expert with top-1 raw gates computes gate * dense(x); the new router makes it differ
        INDArray x = Nd4j.randn(DataType.FLOAT, 10, 5);
        assertTrue(maxDifference(dense.output(x), copy.output(x)) > 0);
    }

    @Test
    void worksOnComputationGraphsAndSurvivesModelSerializer(@TempDir Path dir) throws Exception {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder().seed(2).dataType(DataType.FLOAT)
                .updater(new Adam(1e-3)).graphBuilder()
                .addInputs("in")
                .addLayer("ffn", new DenseFeedForward.Builder().dFf(F).activation(FfnActivation.SWIGLU).hasBias(false)
                        .build(), "in")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(OUT)
                        .activation(Activation.IDENTITY).build(), "ffn")
                .setOutputs("out")
                .setInputTypes(InputType.feedForward(D))
                .build();
        ComputationGraph dense = new ComputationGraph(conf);
        dense.init();
        INDArray x = Nd4j.randn(DataType.FLOAT, 12, D);
        dense.fit(new DataSet(x, Nd4j.randn(DataType.FLOAT, 12, OUT)));
        ComputationGraph moe = Upcycler.of(UpcycleMode.PRESERVING).upcycle(dense,
                Map.of("ffn", fine().topInput(4).build()));
        assertEquals(1, dense.getIterationCount());
        assertEquals(0, moe.getIterationCount(), "a fresh updater counts from 0 (Adam's bias correction)");
        assertEquals(0, moe.getEpochCount());
        assertTrue(maxDifference(dense.outputSingle(x), moe.outputSingle(x)) <= 1e-5);
        File file = dir.resolve("moe.zip").toFile();
        ModelSerializer.writeModel(moe, file, true);
        ComputationGraph restored = ModelSerializer.restoreComputationGraph(file, true);
        assertEquals(moe.outputSingle(x), restored.outputSingle(x));
    }

    @Test
    void nonDenseFeedForwardSourcesAndBiasesAreRejected() {
        MultiLayerNetwork dense = dense();
        BaseMoeLayer target = fine().topInput(4).build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Upcycler.of(UpcycleMode.PRESERVING).upcycle(dense, Map.of(0, target)));
        assertTrue(e.getMessage().contains("only DenseFeedForward blocks"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Upcycler.of(UpcycleMode.AUTHORS).dropUpcycling(0.5));
    }

    private static MultiLayerNetwork denseLayerPairNetwork(boolean bias) {
        return denseLayerPairNetwork(bias, Activation.IDENTITY);
    }

    private static MultiLayerNetwork denseLayerPairNetwork(boolean bias, Activation second) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(6).dataType(DataType.FLOAT)
                .updater(new Adam(1e-3)).list()
                .layer(new DenseLayer.Builder().nOut(D).activation(Activation.TANH).build())
                .layer(new DenseLayer.Builder().nOut(F).activation(Activation.RELU).hasBias(bias).build())
                .layer(new DenseLayer.Builder().nOut(D).activation(second).hasBias(bias).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(OUT)
                        .activation(Activation.IDENTITY).build())
                .setInputType(InputType.feedForward(5))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    @Test
    void denseLayerPairBecomesOnePreservingLayer() {
        MultiLayerNetwork dense = denseLayerPairNetwork(false);
        MultiLayerNetwork moe = Upcycler.of(UpcycleMode.PRESERVING).upcycle(dense, Map.of(1,
                fine().activation(FfnActivation.RELU).topInput(4).build()));
        assertEquals(dense.getnLayers() - 1, moe.getnLayers());
        assertTrue(moe.getLayer(1).conf().getLayer() instanceof FineRMoeLayer);
        INDArray x = Nd4j.randn(DataType.FLOAT, 20, 5);
        assertTrue(maxDifference(dense.output(x), moe.output(x)) <= 1e-5);
    }

    @Test
    void denseLayerPairInAComputationGraph() {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder().seed(2).dataType(DataType.FLOAT)
                .updater(new Adam(1e-3)).graphBuilder()
                .addInputs("in")
                .addLayer("up", new DenseLayer.Builder().nOut(F).activation(Activation.RELU).hasBias(false)
                        .build(), "in")
                .addLayer("down", new DenseLayer.Builder().nOut(D).activation(Activation.IDENTITY).hasBias(false)
                        .build(), "up")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(OUT)
                        .activation(Activation.IDENTITY).build(), "down")
                .setOutputs("out")
                .setInputTypes(InputType.feedForward(D))
                .build();
        ComputationGraph dense = new ComputationGraph(conf);
        dense.init();
        ComputationGraph moe = Upcycler.of(UpcycleMode.PRESERVING).upcycle(dense,
                Map.of("up", fine().activation(FfnActivation.RELU).topInput(4).build()));
        assertTrue(moe.getConfiguration().getVertices().get("down") == null);
        INDArray x = Nd4j.randn(DataType.FLOAT, 12, D);
        assertTrue(maxDifference(dense.outputSingle(x), moe.outputSingle(x)) <= 1e-5);
    }

    @Test
    void denseLayerPairsWithBiasesOrANonLinearSecondLayerAreRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Upcycler.of(UpcycleMode.AUTHORS)
                .upcycle(denseLayerPairNetwork(true), Map.of(1, fine().activation(FfnActivation.RELU).build())));
        assertTrue(e.getMessage().contains("hasBias(false)"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Upcycler.of(UpcycleMode.AUTHORS)
                .upcycle(denseLayerPairNetwork(false, Activation.TANH),
                        Map.of(1, fine().activation(FfnActivation.RELU).build())));
        assertTrue(e.getMessage().contains("must be linear"), e.getMessage());
    }
}
