package io.github.dl4jmoe.stats;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import io.github.dl4jmoe.layers.PeerLayer;
import io.github.dl4jmoe.testutil.GradientChecks;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.LossFunctions;

class ExpertUsageTest {

    @Test
    void unevennessIsZeroForUniformUseAndLogNOverUsedForConcentratedUse() {
        // 2 heads, 4 experts; rows alternate head 0, head 1
        ExpertUsage uniform = ExpertUsage.of(new int[][] {{0, 1}, {2, 3}, {2, 3}, {0, 1}}, 4, 2);
        assertEquals(1.0, uniform.usedFraction(), 0.0);
        assertEquals(0.0, uniform.unevenness(), 1e-12);
        assertArrayEquals(new double[] {1.0, 1.0}, uniform.perHeadUsage(), 0.0);

        ExpertUsage concentrated = ExpertUsage.of(new int[][] {{0}, {0}, {0}, {0}}, 4, 2);
        assertEquals(0.25, concentrated.usedFraction(), 0.0);
        assertEquals(Math.log(4), concentrated.unevenness(), 1e-12);
        assertArrayEquals(new double[] {0.25, 0.25}, concentrated.perHeadUsage(), 0.0);
    }

    @Test
    void usageOfTwoPassesIsNotAFunctionOfTheirFields() {
        // both pairs of passes have identical per-pass usage, but the first pair reuses experts and the second does not
        ExpertUsage first = ExpertUsage.of(new int[][] {{0, 1}}, 4, 1);
        ExpertUsage overlapping = ExpertUsage.of(new int[][] {{0, 1}}, 4, 1);
        ExpertUsage disjoint = ExpertUsage.of(new int[][] {{2, 3}}, 4, 1);
        assertEquals(overlapping.usedFraction(), disjoint.usedFraction(), 0.0);
        assertEquals(overlapping.unevenness(), disjoint.unevenness(), 0.0);
        assertEquals(first.retrievals() + disjoint.retrievals(),
                ExpertUsage.of(new int[][] {{0, 1}, {2, 3}}, 4, 1).retrievals(), "retrievals add up");
        assertEquals(0.5, ExpertUsage.of(new int[][] {{0, 1}, {0, 1}}, 4, 1).usedFraction(), 0.0);
        assertEquals(1.0, ExpertUsage.of(new int[][] {{0, 1}, {2, 3}}, 4, 1).usedFraction(), 0.0);
    }

    @Test
    void retrievedExpertsOfTwoPassesGiveTheUsageOfOnePassOverBothBatches() {
        GradientChecks.useDoublePrecision();
        MultiLayerNetwork net = new MultiLayerNetwork(GradientChecks.doubleNetwork(4).list()
                .layer(new PeerLayer.Builder().numExperts(64).heads(2).topK(3).keySize(4).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(2)
                        .activation(Activation.IDENTITY).build())
                .setInputType(InputType.feedForward(5))
                .build());
        net.init();
        INDArray first = Nd4j.randn(DataType.DOUBLE, 6, 5);
        INDArray second = Nd4j.randn(DataType.DOUBLE, 5, 5);
        net.output(first);
        int[][] a = ExpertUsage.retrievedExperts(net.getLayer(0)).orElseThrow();
        net.output(second);
        int[][] b = ExpertUsage.retrievedExperts(net.getLayer(0)).orElseThrow();
        assertEquals(ExpertUsage.of(b, 64, 2), ExpertUsage.of(net.getLayer(0)).orElseThrow());
        net.output(Nd4j.concat(0, first, second));
        ExpertUsage both = ExpertUsage.of(net.getLayer(0)).orElseThrow();
        Map<String, ExpertUsage> byName = ExpertUsage.of(net);               // the network's overload, not of(Layer)
        assertEquals(Map.of("layer0", both), byName);

        int[][] rows = Stream.concat(Arrays.stream(a), Arrays.stream(b)).toArray(int[][]::new);
        assertEquals(6 * 2, a.length);
        assertEquals(both, ExpertUsage.of(rows, 64, 2));
        assertTrue(ExpertUsage.retrievedExperts(net.getLayer(1)).isEmpty(), "not a PEER layer");
    }

    @Test
    void readableFromATrainingListener() {
        GradientChecks.useDoublePrecision();
        MultiLayerNetwork net = new MultiLayerNetwork(GradientChecks.doubleNetwork(2).list()
                .layer(new PeerLayer.Builder().numExperts(64).heads(2).topK(3).keySize(4).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(2)
                        .activation(Activation.IDENTITY).build())
                .setInputType(InputType.feedForward(5))
                .build());
        net.init();
        List<Map<String, ExpertUsage>> seen = new ArrayList<>();
        net.setListeners(new BaseTrainingListener() {
            @Override
            public void iterationDone(Model model, int iteration, int epoch) {
                seen.add(ExpertUsage.of(model));
            }
        });
        net.fit(Nd4j.randn(DataType.DOUBLE, 10, 5), Nd4j.randn(DataType.DOUBLE, 10, 2));
        ExpertUsage usage = seen.get(0).get("layer0");
        assertEquals(10 * 2 * 3, usage.retrievals());
        assertTrue(usage.usedFraction() > 0 && usage.usedFraction() <= 1);
        assertTrue(usage.unevenness() >= 0 && usage.unevenness() <= Math.log(64));
    }
}
