package io.github.dl4jmoe.spark;

import static io.github.dl4jmoe.spark.TinyLm.CONTEXT;
import static io.github.dl4jmoe.spark.TinyLm.VOCABULARY;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

import io.github.dl4jmoe.layers.PeerLayer;
import io.github.dl4jmoe.spark.data.TextWindows;
import io.github.dl4jmoe.stats.RoutingStatistics;
import io.github.dl4jmoe.zoo.CharLanguageModel;
import io.github.dl4jmoe.zoo.FeedForwardKind;
import io.github.dl4jmoe.zoo.MoEClassifier;
import io.github.dl4jmoe.zoo.data.CharacterIterator;
import io.github.dl4jmoe.zoo.data.CharacterIterator.Split;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.util.CollectionAccumulator;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.spark.api.Repartition;
import org.deeplearning4j.spark.api.TrainingHook;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;

class SparkTrainingTest {

    private static JavaSparkContext sc;

    @BeforeAll
    static void startSpark() {
        sc = LocalSpark.start();
    }

    @AfterAll
    static void stopSpark() {
        sc.stop();
    }

    @Test
    void afterOneRoundTheDriverHoldsTheMeanOfTheWorkers() {
        int batch = 4;
        int frequency = 2;
        int windows = LocalSpark.WORKERS * batch * frequency;    // exactly one round: a single split, no sampling
        String text = TinyLm.text(3).substring(0, windows * CONTEXT + 1);
        JavaRDD<DataSet> data = TextWindows.rdd(sc, text, VOCABULARY, CONTEXT, LocalSpark.WORKERS);
        ComputationGraph net = TinyLm.network(1);
        ComputationGraph initial = net.clone();
        WorkerStates states = new WorkerStates(sc);
        SparkTraining training = SparkTraining.builder(sc, net).workers(LocalSpark.WORKERS).batchSizePerWorker(batch)
                .averagingFrequency(frequency).repartition(Repartition.Never).prefetchBatches(0).hooks(states).build();

        double loss = training.fitEpoch(data);

        assertEquals(1, training.roundsPerEpoch(windows));
        assertEquals((long) windows * CONTEXT, training.lastEpochUnits(), "every window's 8 characters, once");
        assertTrue(loss > 0 && loss < 2 * Math.log(VOCABULARY.size()), "loss " + loss);
        assertEquals(LocalSpark.WORKERS * frequency, states.snapshots.value().size(), "steps of both workers");
        Map<Integer, WorkerState> last = states.lastPerPartition();
        assertEquals(List.of(0, 1), List.copyOf(last.keySet()));
        INDArray w0 = last.get(0).params();
        INDArray w1 = last.get(1).params();
        assertTrue(maxAbsDiff(w0, w1) > 1e-3, "the workers fitted different data");
        assertTrue(maxAbsDiff(net.params(), initial.params()) > 1e-3, "the driver's parameters moved");
        String peerTable = TinyLm.PEER_LAYER + "_" + PeerLayer.DOWN;
        assertTrue(maxAbsDiff(net.getParam(peerTable), initial.getParam(peerTable)) > 1e-4,
                "PEER's sparsely updated expert table reaches the driver");
        assertTrue(maxAbsDiff(w0.add(w1).divi(2), net.params()) < 1e-6, "driver parameters = workers' mean");
        INDArray adamMean = last.get(0).updaterState().add(last.get(1).updaterState()).divi(2);
        assertTrue(maxAbsDiff(adamMean, net.getUpdater().getStateViewArray()) < 1e-6,
                "driver Adam moments = workers' mean");

        // worker 0 started from the driver's parameters and fitted exactly partition 0's windows, in order
        ComputationGraph replay = initial.clone();
        List<String> texts = TextWindows.windows(text, CONTEXT);
        for (int b = 0; b < frequency; b++) {
            List<DataSet> minibatch = new ArrayList<>();
            for (String w : texts.subList(b * batch, (b + 1) * batch)) {
                minibatch.add(TextWindows.encode(w, VOCABULARY, CONTEXT));
            }
            replay.fit(DataSet.merge(minibatch));
        }
        assertTrue(maxAbsDiff(w0, replay.params()) < 1e-5, "worker 0 replayed on the driver: "
                + maxAbsDiff(w0, replay.params()));
    }

    @Test
    void validationLossFallsOverEpochsOfAveragingRounds() {
        String text = TinyLm.text(10);
        CharacterIterator train = split(text, Split.TRAIN);
        CharacterIterator validation = split(text, Split.VALIDATION);
        JavaRDD<DataSet> data = TextWindows.rdd(sc, train.text(), VOCABULARY, CONTEXT, LocalSpark.WORKERS);
        CharLanguageModel model = new CharLanguageModel(TinyLm.network(2), VOCABULARY, CONTEXT);
        double before = model.validationLoss(validation);
        SparkTraining training = SparkTraining.builder(sc, model.network()).batchSizePerWorker(8)
                .averagingFrequency(2).build();
        assertEquals(train.windows() / 32, training.roundsPerEpoch(train.windows()));

        List<Double> losses = new ArrayList<>();
        for (int epoch = 0; epoch < 3; epoch++) {
            losses.add(training.fitEpoch(data));
        }
        double after = model.validationLoss(validation);

        assertTrue(after < before - 0.5, "validation loss " + before + " -> " + after);
        assertTrue(losses.get(2) < losses.get(0), "training loss per epoch " + losses);
    }

    @Test
    void trainsAMultiLayerNetworkToo() {
        MultiLayerNetwork net = MoEClassifier.builder().numInputs(4).numClasses(2).width(8).blocks(1)
                .feedForward(FeedForwardKind.MOE_TOPP).updater(new Adam(1e-2)).seed(5).build().init();
        JavaRDD<DataSet> data = sc.parallelize(blobs(128), LocalSpark.WORKERS);
        SparkTraining training = SparkTraining.builder(sc, net).batchSizePerWorker(8).averagingFrequency(2).build();

        double first = training.fitEpoch(data);
        double last = first;
        for (int epoch = 1; epoch < 4; epoch++) {
            last = training.fitEpoch(data);
        }
        Map<String, RoutingStatistics> routing = training.routingStatistics(data);

        assertEquals(128, training.lastEpochUnits(), "one unit per example without a label mask");
        assertTrue(last < 0.7 * first, "loss per example " + first + " -> " + last);
        assertEquals(List.of("layer1"), List.copyOf(routing.keySet()));
        assertEquals(128, routing.get("layer1").tokens());
    }

    @Test
    void rejectsInvalidSettingsNamingTheField() {
        ComputationGraph net = TinyLm.network(3);
        assertEquals("SparkTraining: batchSizePerWorker must be at least 1, got 0 (the default is 32)",
                assertThrows(IllegalArgumentException.class,
                        () -> SparkTraining.builder(sc, net).batchSizePerWorker(0).build()).getMessage());
        assertEquals("SparkTraining: averagingFrequency must be at least 1, got -1 (the default is 5)",
                assertThrows(IllegalArgumentException.class,
                        () -> SparkTraining.builder(sc, net).averagingFrequency(-1).build()).getMessage());
        assertEquals("SparkTraining: workers must be at least 1, got 0 (leave it unset to use Spark's default "
                        + "parallelism)",
                assertThrows(IllegalArgumentException.class,
                        () -> SparkTraining.builder(sc, net).workers(0).build()).getMessage());
        assertEquals("SparkTraining: prefetchBatches must be at least 0, got -2 (0 disables prefetching)",
                assertThrows(IllegalArgumentException.class,
                        () -> SparkTraining.builder(sc, net).prefetchBatches(-2).build()).getMessage());
        assertEquals("SparkTraining: network must be a ComputationGraph or MultiLayerNetwork, got null",
                assertThrows(IllegalArgumentException.class,
                        () -> SparkTraining.builder(sc, null).build()).getMessage());
    }

    private static CharacterIterator split(String text, Split split) {
        return CharacterIterator.builder().text(text).vocabulary(VOCABULARY).sequenceLength(CONTEXT).batchSize(8)
                .split(split).shuffle(false).build();
    }

    /** Two Gaussian blobs in 4 dimensions, centred at -1 and +1, one-hot labels. */
    private static List<DataSet> blobs(int n) {
        Random random = new Random(11);
        List<DataSet> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int label = i % 2;
            INDArray x = Nd4j.create(DataType.FLOAT, 1, 4);
            for (int j = 0; j < 4; j++) {
                x.putScalar(0, j, (label == 0 ? -1 : 1) + 0.5 * random.nextGaussian());
            }
            INDArray y = Nd4j.zeros(DataType.FLOAT, 1, 2).putScalar(0, label, 1);
            out.add(new DataSet(x, y));
        }
        return out;
    }

    private static double maxAbsDiff(INDArray a, INDArray b) {
        return a.castTo(DataType.DOUBLE).sub(b.castTo(DataType.DOUBLE)).amaxNumber().doubleValue();
    }

    /** A worker's parameters and Adam state after one of its steps. */
    record WorkerState(int partition, INDArray params, INDArray updaterState) implements Serializable {
    }

    /** Records every worker's state after each of its steps, through a Spark accumulator. */
    static final class WorkerStates implements TrainingHook {
        private static final long serialVersionUID = 1L;
        final CollectionAccumulator<WorkerState> snapshots;

        WorkerStates(JavaSparkContext sc) {
            snapshots = sc.sc().collectionAccumulator("worker states");
        }

        /** The last state of each partition's worker, by partition. */
        Map<Integer, WorkerState> lastPerPartition() {
            Map<Integer, WorkerState> last = new TreeMap<>();
            snapshots.value().forEach(s -> last.put(s.partition(), s));
            return last;
        }

        @Override
        public void postUpdate(MultiDataSet minibatch, Model model) {
            ComputationGraph graph = (ComputationGraph) model;
            snapshots.add(new WorkerState(TaskContext.getPartitionId(), graph.params().dup(),
                    graph.getUpdater().getStateViewArray().dup()));
        }

        @Override
        public void postUpdate(org.nd4j.linalg.dataset.api.DataSet minibatch, Model model) {
        }

        @Override
        public void preUpdate(org.nd4j.linalg.dataset.api.DataSet minibatch, Model model) {
        }

        @Override
        public void preUpdate(MultiDataSet minibatch, Model model) {
        }
    }
}
