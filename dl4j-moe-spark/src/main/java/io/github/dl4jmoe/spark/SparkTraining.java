package io.github.dl4jmoe.spark;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import io.github.dl4jmoe.spark.stats.SparkRoutingStatistics;
import io.github.dl4jmoe.stats.RoutingStatistics;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.storage.StorageLevel;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.spark.api.RDDTrainingApproach;
import org.deeplearning4j.spark.api.Repartition;
import org.deeplearning4j.spark.api.TrainingHook;
import org.deeplearning4j.spark.impl.graph.SparkComputationGraph;
import org.deeplearning4j.spark.impl.graph.dataset.DataSetToMultiDataSetFn;
import org.deeplearning4j.spark.impl.multilayer.SparkDl4jMultiLayer;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.MultiDataSet;

/**
 * Trains a network on Spark by synchronous parameter averaging (DL4J's {@link ParameterAveragingTrainingMaster}):
 * every round, each worker starts from the driver's parameters and Adam state, fits {@code averagingFrequency}
 * minibatches of {@code batchSizePerWorker} examples of its share of the data, and the driver replaces its parameters
 * and updater state by the workers' means. An epoch is {@code examples / (workers * batchSizePerWorker *
 * averagingFrequency)} rounds (at least one), each over a random share of the data; as DL4J caps every worker at
 * {@code averagingFrequency} minibatches per round, the remainder of that division (less than one round's worth) is
 * left out of the epoch, different examples each epoch.
 *
 * <p>A {@link ComputationGraph} (e.g. {@code MoETransformerLM}) trains through {@link SparkComputationGraph}, a
 * {@link MultiLayerNetwork} (e.g. {@code MoEClassifier}) through {@link SparkDl4jMultiLayer}. The data is an RDD with
 * one example per {@link DataSet}, such as {@link io.github.dl4jmoe.spark.data.TextWindows} builds; it is cached
 * deserialized in memory (DL4J's round splitting scans every element once per round, which a serialized cache would
 * turn into a deserialization each time).
 *
 * <p>Worker-side limits: a layer's state that is not in the parameter vector or the updater state (the moments of
 * PEER's sparse table updates) starts afresh on every worker every round, and {@code HostUpdatedStep} is not
 * installed on the workers' copies.
 */
public final class SparkTraining {

    public static final int DEFAULT_BATCH_SIZE_PER_WORKER = 32;
    public static final int DEFAULT_AVERAGING_FREQUENCY = 5;
    /** Minibatches a worker prepares ahead of the one it fits. */
    public static final int DEFAULT_PREFETCH_BATCHES = 2;
    public static final long DEFAULT_SEED = 42;
    /** One example per element of the training RDD. */
    private static final int EXAMPLES_PER_ELEMENT = 1;

    private final JavaSparkContext sc;
    private final SparkComputationGraph graph;       // exactly one of graph and multiLayer is set
    private final SparkDl4jMultiLayer multiLayer;
    private final TrainingLoss loss;
    private final int workers;
    private final int batchSizePerWorker;
    private final int averagingFrequency;
    private JavaRDD<DataSet> lastData;
    private JavaRDD<MultiDataSet> lastGraphData;

    private SparkTraining(Builder b) {
        this.sc = b.sc;
        this.loss = TrainingLoss.register(sc);
        this.workers = b.workers != null ? b.workers : sc.defaultParallelism();
        this.batchSizePerWorker = b.batchSizePerWorker;
        this.averagingFrequency = b.averagingFrequency;
        List<TrainingHook> hooks = new ArrayList<>(b.hooks);
        hooks.add(loss);
        ParameterAveragingTrainingMaster master = new ParameterAveragingTrainingMaster.Builder(workers,
                EXAMPLES_PER_ELEMENT)
                .batchSizePerWorker(batchSizePerWorker)
                .averagingFrequency(averagingFrequency)
                .saveUpdater(true)                             // average Adam's moments too, not only parameters
                .rddTrainingApproach(RDDTrainingApproach.Direct)
                .storageLevel(StorageLevel.MEMORY_ONLY())
                .repartionData(b.repartition)
                .workerPrefetchNumBatches(b.prefetchBatches)
                .rngSeed(b.seed)
                .trainingHooks(hooks)
                .build();
        this.graph = b.network instanceof ComputationGraph g ? new SparkComputationGraph(sc, g, master) : null;
        this.multiLayer = graph == null ? new SparkDl4jMultiLayer(sc, (MultiLayerNetwork) b.network, master) : null;
    }

    /**
     * @param network trained in place: after each epoch it holds the averaged parameters and updater state
     */
    public static Builder builder(JavaSparkContext sc, Model network) {
        return new Builder(sc, network);
    }

    /**
     * One pass over {@code data}.
     *
     * @param data one example per element; do not persist it at another storage level than MEMORY_ONLY
     * @return the mean training loss per predicted unit (character, or example) over every minibatch fitted
     */
    public double fitEpoch(JavaRDD<DataSet> data) {
        loss.reset();
        if (graph != null) {
            graph.fitMultiDataSet(multiDataSets(data));
        } else {
            multiLayer.fit(data);
        }
        return loss.mean();
    }

    /** Units (characters, or examples) the workers fitted in the last epoch. */
    public long lastEpochUnits() {
        return loss.units();
    }

    /** Averaging rounds of an epoch over {@code examples}. */
    public int roundsPerEpoch(long examples) {
        return (int) Math.max(1, examples / examplesPerRound());
    }

    /** Examples an epoch over {@code examples} fits (see the class comment for the ones left out). */
    public long examplesPerEpoch(long examples) {
        return Math.min(examples, roundsPerEpoch(examples) * examplesPerRound());
    }

    private long examplesPerRound() {
        return (long) workers * batchSizePerWorker * averagingFrequency;
    }

    /** The network on the driver. */
    public Model network() {
        return graph != null ? graph.getNetwork() : multiLayer.getNetwork();
    }

    /** Merged routing statistics of the network's MoE layers over all of {@code data}, from every partition. */
    public Map<String, RoutingStatistics> routingStatistics(JavaRDD<DataSet> data) {
        return SparkRoutingStatistics.collect(sc, network(), data, batchSizePerWorker);
    }

    public int workers() {
        return workers;
    }

    /**
     * DL4J converts a DataSet RDD for a graph into a new MultiDataSet RDD on every fit and caches each of them; this
     * converts once per input RDD so that every epoch reuses one cached copy.
     */
    private JavaRDD<MultiDataSet> multiDataSets(JavaRDD<DataSet> data) {
        if (data != lastData) {
            if (lastGraphData != null) {
                lastGraphData.unpersist(false);
            }
            lastData = data;
            lastGraphData = data.map(new DataSetToMultiDataSetFn());
        }
        return lastGraphData;
    }

    /** Builder; {@link #build()} validates. */
    public static final class Builder {
        private final JavaSparkContext sc;
        private final Model network;
        private Integer workers;
        private int batchSizePerWorker = DEFAULT_BATCH_SIZE_PER_WORKER;
        private int averagingFrequency = DEFAULT_AVERAGING_FREQUENCY;
        private int prefetchBatches = DEFAULT_PREFETCH_BATCHES;
        private Repartition repartition = Repartition.Always;
        private long seed = DEFAULT_SEED;
        private final List<TrainingHook> hooks = new ArrayList<>();

        private Builder(JavaSparkContext sc, Model network) {
            this.sc = sc;
            this.network = network;
        }

        /** Parallel fits per round; default Spark's default parallelism (the executors' cores). */
        public Builder workers(int workers) {
            this.workers = workers;
            return this;
        }

        /** Examples per minibatch on each worker; default {@value #DEFAULT_BATCH_SIZE_PER_WORKER}. */
        public Builder batchSizePerWorker(int batchSizePerWorker) {
            this.batchSizePerWorker = batchSizePerWorker;
            return this;
        }

        /** Minibatches each worker fits between two averagings; default {@value #DEFAULT_AVERAGING_FREQUENCY}. */
        public Builder averagingFrequency(int averagingFrequency) {
            this.averagingFrequency = averagingFrequency;
            return this;
        }

        /** Default {@value #DEFAULT_PREFETCH_BATCHES}; 0 prepares each minibatch when it is fitted. */
        public Builder prefetchBatches(int prefetchBatches) {
            this.prefetchBatches = prefetchBatches;
            return this;
        }

        /**
         * Whether each round's data is shuffled into equal shares, one per worker (default {@link Repartition#Always});
         * {@link Repartition#Never} keeps the RDD's partitions, so each worker fits exactly the examples of one.
         */
        public Builder repartition(Repartition repartition) {
            this.repartition = repartition;
            return this;
        }

        /** Seed of the assignment of examples to rounds; default {@value #DEFAULT_SEED}. */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /** More hooks run on the workers around every step, after DL4J's fit of a minibatch. */
        public Builder hooks(TrainingHook... hooks) {
            this.hooks.addAll(Arrays.asList(hooks));
            return this;
        }

        public SparkTraining build() {
            require(workers == null || workers >= 1, "workers", workers, 1,
                    "leave it unset to use Spark's default parallelism");
            require(batchSizePerWorker >= 1, "batchSizePerWorker", batchSizePerWorker, 1,
                    "the default is " + DEFAULT_BATCH_SIZE_PER_WORKER);
            require(averagingFrequency >= 1, "averagingFrequency", averagingFrequency, 1,
                    "the default is " + DEFAULT_AVERAGING_FREQUENCY);
            require(prefetchBatches >= 0, "prefetchBatches", prefetchBatches, 0, "0 disables prefetching");
            if (repartition == null) {
                throw new IllegalArgumentException("SparkTraining: repartition must be set (try Repartition.Always)");
            }
            if (!(network instanceof ComputationGraph || network instanceof MultiLayerNetwork)) {
                throw new IllegalArgumentException("SparkTraining: network must be a ComputationGraph or "
                        + "MultiLayerNetwork, got " + (network == null ? "null" : network.getClass().getName()));
            }
            return new SparkTraining(this);
        }

        private static void require(boolean ok, String field, Object value, int minimum, String fix) {
            if (!ok) {
                throw new IllegalArgumentException("SparkTraining: " + field + " must be at least " + minimum
                        + ", got " + value + " (" + fix + ")");
            }
        }
    }
}
