package io.github.dl4jmoe.stats;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.dl4jmoe.layers.MoeFeedForward;
import io.github.dl4jmoe.routing.TopPRouter;
import io.github.dl4jmoe.testutil.GradientChecks;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.LossFunctions;

class RoutingStatisticsTest {

    @Test
    void mergeSumsEveryCount() {
        RoutingStatistics a = new RoutingStatistics(3, new long[] {0, 2, 1, 0}, new long[] {2, 1, 1}, 1, 2);
        RoutingStatistics b = new RoutingStatistics(2, new long[] {0, 0, 1, 1}, new long[] {1, 2, 2}, 0, 3);
        RoutingStatistics merged = a.merge(b);
        assertEquals(new RoutingStatistics(5, new long[] {0, 2, 2, 1}, new long[] {3, 3, 3}, 1, 5), merged);
        assertEquals((4.0 + 5.0) / 5, merged.meanExpertsPerToken(), 1e-12, "mean over both passes, token-weighted");
        assertEquals(merged, b.merge(a), "merge is symmetric");
        assertArrayEquals(new long[] {2, 1, 1}, a.load(), "inputs are not modified");
    }

    @Test
    void mergeOfTwoPassesEqualsOnePassOverBothBatches() {
        GradientChecks.useDoublePrecision();
        MultiLayerNetwork net = new MultiLayerNetwork(GradientChecks.doubleNetwork(3).list()
                .layer(new MoeFeedForward.Builder().numExperts(6).expertHidden(3).router(new TopPRouter(0.5)).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(2)
                        .activation(Activation.IDENTITY).build())
                .setInputType(InputType.feedForward(5))
                .build());
        net.init();
        INDArray first = Nd4j.randn(DataType.DOUBLE, 7, 5);
        INDArray second = Nd4j.randn(DataType.DOUBLE, 9, 5);
        net.output(first);
        RoutingStatistics a = RoutingStatistics.of(net).get("layer0");
        net.output(second);
        RoutingStatistics b = RoutingStatistics.of(net).get("layer0");
        net.output(Nd4j.concat(0, first, second));
        RoutingStatistics both = RoutingStatistics.of(net).get("layer0");

        RoutingStatistics merged = a.merge(b);
        assertEquals(16, merged.tokens());
        assertEquals(both.tokens(), merged.tokens());
        assertArrayEquals(both.expertsPerTokenCounts(), merged.expertsPerTokenCounts());
        assertArrayEquals(both.load(), merged.load());
        assertEquals(both.droppedPairs(), merged.droppedPairs());
        assertEquals(a.capacity() + b.capacity(), merged.capacity(), "capacity is summed: slots over both passes");
        assertTrue(merged.meanExpertsPerToken() >= 1);
    }

    @Test
    void mergeRejectsADifferentNumberOfExperts() {
        RoutingStatistics four = new RoutingStatistics(1, new long[] {0, 1, 0, 0, 0}, new long[] {1, 0, 0, 0}, 0, 1);
        RoutingStatistics two = new RoutingStatistics(1, new long[] {0, 1, 0}, new long[] {0, 1}, 0, 1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> four.merge(two));
        assertTrue(e.getMessage().contains("have 4 and 2 experts (merge statistics of the same layer only)"),
                e.getMessage());
    }
}
