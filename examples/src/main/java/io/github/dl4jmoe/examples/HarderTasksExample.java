package io.github.dl4jmoe.examples;

import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.Callable;

import io.github.dl4jmoe.cli.CommandLines;
import io.github.dl4jmoe.layers.FfnActivation;
import io.github.dl4jmoe.layers.MoeFeedForward;
import io.github.dl4jmoe.routing.TopPRouter;
import io.github.dl4jmoe.stats.RoutingStatistics;
import org.deeplearning4j.datasets.iterator.utilty.ListDataSetIterator;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * "Harder tasks need more experts" (Huang et al. 2024, arXiv 2403.07652): a classifier with a top-p routed
 * {@link MoeFeedForward} block is trained on a mix of easy and hard examples, then the number of experts its router
 * activates is measured on held-out easy and hard examples separately.
 *
 * <p>The synthetic task, two classes over {@value #FEATURES} features:
 * <ul>
 *   <li>easy: feature 0 is {@code +-(}{@value #EASY_OFFSET}{@code  + |N(0, 0.5)|)} and its sign is the class, a
 *       linear rule with a wide margin; the other features are noise;</li>
 *   <li>hard: feature 0 is small noise ({@code N(0, }{@value #HARD_X0_STD}{@code )}, so nothing tells the class at a
 *       glance) and the class is the sign of {@code x1 x2 x3}, a three-way XOR that no linear rule and no single small
 *       expert separates; the features are observed with noise of std {@value #OBSERVATION_NOISE}, so examples near
 *       the boundaries ({@code x_i} near 0) are genuinely ambiguous.</li>
 * </ul>
 * Network: {@code DenseLayer(tanh)} embedding, the top-p MoE block (threshold p, the paper's dynamic entropy loss
 * beta and load-balance loss alpha), softmax output; DL4J's ordinary {@code fit(DataSetIterator)}.
 */
@Command(name = "harder-tasks", mixinStandardHelpOptions = true,
        description = "Top-p MoE on easy vs hard synthetic examples: accuracy and experts per token of each.")
public final class HarderTasksExample implements Callable<Integer> {

    /** Input width. */
    public static final int FEATURES = 16;
    public static final int CLASSES = 2;
    public static final double EASY_OFFSET = 2.5;
    public static final double EASY_SPREAD = 0.5;
    public static final double HARD_X0_STD = 0.25;
    public static final double OBSERVATION_NOISE = 0.1;
    /** Name of the MoE layer, for its statistics. */
    static final String MOE_LAYER = "moe";

    @Option(names = "--epochs", defaultValue = "20", description = "training epochs (default: ${DEFAULT-VALUE})")
    int epochs;
    @Option(names = "--train-examples", defaultValue = "2000",
            description = "training examples of each kind, easy and hard (default: ${DEFAULT-VALUE})")
    int trainExamples;
    @Option(names = "--test-examples", defaultValue = "1000",
            description = "held-out examples of each kind (default: ${DEFAULT-VALUE})")
    int testExamples;
    @Option(names = "--batch-size", defaultValue = "64", description = "minibatch size (default: ${DEFAULT-VALUE})")
    int batchSize;
    @Option(names = "--experts", defaultValue = "8", description = "routed experts E (default: ${DEFAULT-VALUE})")
    int experts;
    @Option(names = "--expert-hidden", defaultValue = "8", description = "hidden width of each expert "
            + "(default: ${DEFAULT-VALUE})")
    int expertHidden;
    @Option(names = "--d-model", defaultValue = "32", description = "embedding width (default: ${DEFAULT-VALUE})")
    int dModel;
    @Option(names = "--threshold", defaultValue = "0.4", description = "top-p threshold p "
            + "(default: ${DEFAULT-VALUE}, the paper's)")
    double threshold;
    @Option(names = "--entropy", defaultValue = "1e-4",
            description = "dynamic (entropy) loss coefficient beta (default: ${DEFAULT-VALUE}, the paper's)")
    double entropy;
    @Option(names = "--load-balance", defaultValue = "1e-2",
            description = "load-balance loss coefficient alpha (default: ${DEFAULT-VALUE}, the paper's)")
    double loadBalance;
    @Option(names = "--lr", defaultValue = "3e-3", description = "Adam learning rate (default: ${DEFAULT-VALUE})")
    double learningRate;
    @Option(names = "--seed", defaultValue = "42", description = "random seed (default: ${DEFAULT-VALUE})")
    long seed;

    /**
     * Held-out accuracy and mean experts per token (from {@link RoutingStatistics}) on each kind of example after
     * training, and the mean experts per token of the untrained network (to tell a learned gap from one the input
     * distribution alone causes).
     */
    public record Result(double easyAccuracy, double hardAccuracy, double easyMeanExperts, double hardMeanExperts,
                         double initialEasyMeanExperts, double initialHardMeanExperts) {
    }

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        try {
            validate();
        } catch (IllegalArgumentException e) {           // an invalid option: a usage error, not a stack trace
            throw CommandLines.usage(spec, e.getMessage(), e);
        }
        Result r = run();
        System.out.printf(Locale.ROOT,
                "held-out easy examples: accuracy %.3f, experts per token %.3f (untrained %.3f)%n",
                r.easyAccuracy(), r.easyMeanExperts(), r.initialEasyMeanExperts());
        System.out.printf(Locale.ROOT,
                "held-out hard examples: accuracy %.3f, experts per token %.3f (untrained %.3f)%n",
                r.hardAccuracy(), r.hardMeanExperts(), r.initialHardMeanExperts());
        System.out.printf(Locale.ROOT, "hard - easy: %+.3f experts per token (top-p p=%s, E=%d)%n",
                r.hardMeanExperts() - r.easyMeanExperts(), threshold, experts);
        return 0;
    }

    /**
     * Trains and evaluates with the options set on this command.
     *
     * @throws IllegalArgumentException naming the option, value and fix, for an invalid option
     */
    public Result run() {
        validate();
        Random random = new Random(seed);
        Nd4j.getRandom().setSeed(seed);
        List<DataSet> train = DataSet.merge(List.of(examples(random, trainExamples, false),
                examples(random, trainExamples, true))).asList();
        DataSet easyTest = examples(random, testExamples, false);
        DataSet hardTest = examples(random, testExamples, true);

        MultiLayerNetwork net = network();
        double[] easyBefore = evaluate(net, easyTest);
        double[] hardBefore = evaluate(net, hardTest);
        for (int epoch = 0; epoch < epochs; epoch++) {
            Collections.shuffle(train, random);
            net.fit(new ListDataSetIterator<>(train, batchSize));
        }
        double[] easy = evaluate(net, easyTest);
        double[] hard = evaluate(net, hardTest);
        return new Result(easy[0], hard[0], easy[1], hard[1], easyBefore[1], hardBefore[1]);
    }

    private void validate() {
        require(epochs >= 1, "--epochs", epochs, "at least 1", "try 20");
        require(trainExamples >= 1, "--train-examples", trainExamples, "at least 1", "try 2000");
        require(testExamples >= 1, "--test-examples", testExamples, "at least 1", "try 1000");
        require(batchSize >= 1, "--batch-size", batchSize, "at least 1", "try 64");
        require(experts >= 2, "--experts", experts, "at least 2", "try 8");
        require(expertHidden >= 1, "--expert-hidden", expertHidden, "at least 1", "try 8");
        require(dModel >= 1, "--d-model", dModel, "at least 1", "try 32");
        require(threshold > 0 && threshold <= 1, "--threshold", threshold, "in (0, 1]", "the paper uses 0.4");
        require(entropy >= 0, "--entropy", entropy, "0 or more", "the paper uses 1e-4");
        require(loadBalance >= 0, "--load-balance", loadBalance, "0 or more", "the paper uses 1e-2");
        require(learningRate > 0 && Double.isFinite(learningRate), "--lr", learningRate, "a positive number",
                "try 3e-3");
    }

    private static void require(boolean ok, String option, Object value, String requirement, String fix) {
        if (!ok) {
            throw new IllegalArgumentException(option + " must be " + requirement + ", got " + value
                    + " (" + fix + ")");
        }
    }

    /** Accuracy and mean experts per token of the MoE layer on {@code data}, in inference. */
    private static double[] evaluate(MultiLayerNetwork net, DataSet data) {
        INDArray predicted = net.output(data.getFeatures(), false);
        Model model = net;                        // a MultiLayerNetwork is also a Layer: pick of(Model)
        double meanExperts = RoutingStatistics.of(model).get(MOE_LAYER).meanExpertsPerToken();
        Evaluation evaluation = new Evaluation(CLASSES);
        evaluation.eval(data.getLabels(), predicted);
        return new double[] {evaluation.accuracy(), meanExperts};
    }

    /**
     * {@code n} examples of one kind: features {@code [n, FEATURES]}, one-hot labels {@code [n, CLASSES]}; see the
     * class comment for the rules.
     */
    static DataSet examples(Random random, int n, boolean hard) {
        float[][] features = new float[n][FEATURES];
        float[][] labels = new float[n][CLASSES];
        for (int e = 0; e < n; e++) {
            double[] x = new double[FEATURES];
            for (int i = 0; i < FEATURES; i++) {
                x[i] = random.nextGaussian();
            }
            int label;
            if (hard) {
                x[0] = HARD_X0_STD * random.nextGaussian();
                label = x[1] * x[2] * x[3] > 0 ? 1 : 0;
                for (int i = 0; i < FEATURES; i++) {
                    x[i] += OBSERVATION_NOISE * random.nextGaussian();
                }
            } else {
                label = random.nextBoolean() ? 1 : 0;
                x[0] = (2 * label - 1) * (EASY_OFFSET + Math.abs(EASY_SPREAD * random.nextGaussian()));
            }
            for (int i = 0; i < FEATURES; i++) {
                features[e][i] = (float) x[i];
            }
            labels[e][label] = 1f;
        }
        return new DataSet(Nd4j.createFromArray(features), Nd4j.createFromArray(labels));
    }

    private MultiLayerNetwork network() {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(seed)
                .dataType(DataType.FLOAT)
                .updater(new Adam(learningRate))
                .list()
                .layer(new DenseLayer.Builder().nOut(dModel).activation(Activation.TANH).build())
                .layer(new MoeFeedForward.Builder().name(MOE_LAYER).numExperts(experts).expertHidden(expertHidden)
                        .activation(FfnActivation.SWIGLU).router(new TopPRouter(threshold))
                        .entropyCoefficient(entropy).loadBalanceCoefficient(loadBalance).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(CLASSES)
                        .activation(Activation.SOFTMAX).build())
                .setInputType(InputType.feedForward(FEATURES))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }
}
