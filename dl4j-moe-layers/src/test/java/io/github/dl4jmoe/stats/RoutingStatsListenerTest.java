package io.github.dl4jmoe.stats;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import io.github.dl4jmoe.layers.MoeFeedForward;
import io.github.dl4jmoe.layers.PeerLayer;
import io.github.dl4jmoe.routing.TopPRouter;
import io.github.dl4jmoe.testutil.GradientChecks;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.deeplearning4j.optimize.listeners.PerformanceListener;
import org.deeplearning4j.optimize.listeners.ScoreIterationListener;
import org.deeplearning4j.ui.model.stats.StatsListener;
import org.deeplearning4j.ui.model.storage.InMemoryStatsStorage;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.LossFunctions;

class RoutingStatsListenerTest {

    @Test
    void reportsEveryNthIterationNextToDl4jListeners() {
        GradientChecks.useDoublePrecision();
        MultiLayerNetwork net = new MultiLayerNetwork(GradientChecks.doubleNetwork(5).list()
                .layer(new MoeFeedForward.Builder().nOut(6).numExperts(4).expertHidden(3)
                        .router(new TopPRouter(0.5)).build())
                .layer(new PeerLayer.Builder().numExperts(64).heads(2).topK(3).keySize(4).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(2)
                        .activation(Activation.IDENTITY).build())
                .setInputType(InputType.feedForward(6))
                .build());
        net.init();
        List<RoutingStatsListener.Snapshot> seen = new ArrayList<>();
        List<Integer> otherListener = new ArrayList<>();
        BaseTrainingListener counter = new BaseTrainingListener() {
            @Override
            public void iterationDone(Model model, int iteration, int epoch) {
                otherListener.add(iteration);
            }
        };
        RoutingStatsListener listener = new RoutingStatsListener(2, seen::add);
        InMemoryStatsStorage uiStorage = new InMemoryStatsStorage();
        net.setListeners(new ScoreIterationListener(1), new PerformanceListener(1, true),
                new StatsListener(uiStorage, 1), counter, listener);
        DataSet batch = new DataSet(Nd4j.randn(DataType.DOUBLE, 10, 6), Nd4j.randn(DataType.DOUBLE, 10, 2));
        for (int i = 0; i < 5; i++) {
            net.fit(batch);
        }
        assertEquals(List.of(0, 2, 4), seen.stream().map(RoutingStatsListener.Snapshot::iteration).toList());
        assertEquals(List.of(0, 1, 2, 3, 4), otherListener, "the other listeners still see every iteration");
        RoutingStatsListener.Snapshot last = seen.get(2);
        assertEquals(10, last.moe().get("layer0").tokens());
        assertEquals(10 * 2 * 3, last.peer().get("layer1").retrievals());
        assertTrue(last.moe().get("layer0").meanExpertsPerToken() >= 1);
        assertEquals(last, listener.latest());
        String session = uiStorage.listSessionIDs().get(0);
        assertEquals(5, uiStorage.getAllUpdatesAfter(session, StatsListener.TYPE_ID,
                uiStorage.listWorkerIDsForSession(session).get(0), 0).size(),
                "the UI's StatsListener recorded every step");
    }

    @Test
    void frequencyMustBePositive() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new RoutingStatsListener(0));
        assertTrue(e.getMessage().contains("frequency must be at least 1, got 0"), e.getMessage());
    }
}
