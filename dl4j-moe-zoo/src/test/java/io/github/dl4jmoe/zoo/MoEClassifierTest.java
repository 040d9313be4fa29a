package io.github.dl4jmoe.zoo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;

import io.github.dl4jmoe.layers.MoeFeedForward;
import io.github.dl4jmoe.routing.TopPRouter;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

class MoEClassifierTest {

    private static final int INPUTS = 6;
    private static final int CLASSES = 3;
    private static final int EXAMPLES = 48;

    /** Labels by the sign pattern of two features: a task an MLP learns in a few dozen steps. */
    private static DataSet task(long seed) {
        Nd4j.getRandom().setSeed(seed);
        INDArray x = Nd4j.randn(DataType.FLOAT, EXAMPLES, INPUTS);
        INDArray y = Nd4j.zeros(DataType.FLOAT, EXAMPLES, CLASSES);
        for (int i = 0; i < EXAMPLES; i++) {
            int c = x.getDouble(i, 0) > 0 ? (x.getDouble(i, 1) > 0 ? 0 : 1) : 2;
            y.putScalar(i, c, 1);
        }
        return new DataSet(x, y);
    }

    @ParameterizedTest
    @EnumSource(FeedForwardKind.class)
    void everyKindFitsHasTheRightShapeAndSurvivesModelSerializer(FeedForwardKind kind) throws IOException {
        MultiLayerNetwork net = MoEClassifier.builder().numInputs(INPUTS).numClasses(CLASSES).width(8)
                .feedForward(kind).build().init();
        DataSet data = task(1);
        double before = net.score(data);
        for (int i = 0; i < 30; i++) {
            net.fit(data);
        }
        assertTrue(net.score(data) < before, kind + ": score " + before + " -> " + net.score(data));
        INDArray out = net.output(data.getFeatures());
        assertArrayEquals(new long[] {EXAMPLES, CLASSES}, out.shape());

        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ModelSerializer.writeModel(net, bytes, true);
        MultiLayerNetwork restored = ModelSerializer.restoreMultiLayerNetwork(
                new ByteArrayInputStream(bytes.toByteArray()), true);
        assertEquals(out, restored.output(data.getFeatures()));
        assertEquals(net.getLayerWiseConfigurations(), restored.getLayerWiseConfigurations());
    }

    @Test
    void blocksTakeTheirOwnKindOrAConfiguredLayer() {
        MoeFeedForward custom = new MoeFeedForward.Builder().numExperts(3).expertHidden(5)
                .router(new TopPRouter(0.7)).build();
        MoEClassifier model = MoEClassifier.builder().numInputs(INPUTS).numClasses(CLASSES).width(8).blocks(3)
                .feedForward(FeedForwardKind.DENSE, FeedForwardKind.PEER, FeedForwardKind.MOE_TOPK)
                .feedForwardLayer(2, custom).build();
        MultiLayerNetwork net = model.init();
        assertEquals(5, net.getnLayers());
        assertEquals("DenseFeedForward",
                net.getLayerWiseConfigurations().getConf(1).getLayer().getClass().getSimpleName());
        assertEquals("PeerLayer", net.getLayerWiseConfigurations().getConf(2).getLayer().getClass().getSimpleName());
        MoeFeedForward third = (MoeFeedForward) net.getLayerWiseConfigurations().getConf(3).getLayer();
        assertEquals(3, third.getNumExperts());
        assertEquals(8, third.getNIn());
        assertEquals(0, custom.getNIn(), "the builder's layer is copied, not changed");
    }

    @Test
    void invalidArgumentsAreRejectedWithTheFix() {
        assertMessage("MoEClassifier: numClasses must be at least 2, got 1 (set numClasses(...))",
                () -> MoEClassifier.builder().numInputs(4).numClasses(1).build());
        assertMessage("MoEClassifier: numInputs must be at least 1, got 0 (set numInputs(features per example))",
                () -> MoEClassifier.builder().numClasses(2).build());
        assertMessage("MoEClassifier: feedForward must name one kind per block (2), got [DENSE] "
                        + "(pass 2 kinds or a single one)",
                () -> MoEClassifier.builder().numInputs(4).numClasses(2)
                        .feedForward(new FeedForwardKind[] {FeedForwardKind.DENSE}).build());
        assertMessage("MoEClassifier: feedForwardLayer block must be in [0, 2), got 5 (number blocks from 0)",
                () -> MoEClassifier.builder().numInputs(4).numClasses(2)
                        .feedForwardLayer(5, FeedForwardKind.DENSE.defaultLayer(64)).build());
        assertMessage("MoEClassifier: feedForwardLayer(0) nIn/nOut must equal the model width 64, got 32/32 "
                        + "(build it with nIn(64) or leave nIn and nOut unset)",
                () -> MoEClassifier.builder().numInputs(4).numClasses(2)
                        .feedForwardLayer(0, FeedForwardKind.DENSE.defaultLayer(32)).build());
        assertMessage("MoEClassifier: updater must be set, got null (try new Adam(1e-3))",
                () -> MoEClassifier.builder().numInputs(4).numClasses(2).updater(null).build());
    }

    static void assertMessage(String expected, org.junit.jupiter.api.function.Executable build) {
        assertEquals(expected, assertThrows(IllegalArgumentException.class, build).getMessage());
    }
}
