package io.github.dl4jmoe.examples.experiment;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntConsumer;
import java.util.function.Supplier;

import io.github.dl4jmoe.host.NativeMemoryListener;
import io.github.dl4jmoe.layers.MoeFeedForward;
import io.github.dl4jmoe.routing.Router;
import io.github.dl4jmoe.runtime.BaseMoeLayer;
import io.github.dl4jmoe.zoo.CharLanguageModel;
import io.github.dl4jmoe.zoo.FeedForwardKind;
import io.github.dl4jmoe.zoo.MoETransformerLM;
import io.github.dl4jmoe.zoo.data.CharacterIterator;
import io.github.dl4jmoe.zoo.data.CharacterIterator.Split;
import io.github.dl4jmoe.zoo.data.CharacterVocabulary;
import org.deeplearning4j.datasets.iterator.EarlyTerminationDataSetIterator;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.learning.config.Adam;

/**
 * Training of the experiments' character language models ({@link MoETransformerLM}): the data, the model sizes of
 * full and quick mode, and a plain DL4J training loop that records the loss.
 */
final class LanguageModelRun {

    private static final int RELEASE_MEMORY_EVERY = 50;

    private LanguageModelRun() {
    }

    /**
     * Model and data sizes.
     *
     * @param evalEvery   steps between validation losses on the curve
     * @param evalBatches validation batches per evaluation (the validation split is the text's last 10%)
     */
    record Scale(int dModel, int heads, int context, int batch, int evalEvery, int evalBatches) {
        /** The examples' default model: as {@code train}, and as {@code lm_torch.py}. */
        static final Scale FULL = new Scale(64, 4, 64, 32, 50, 20);
        static final Scale QUICK = new Scale(16, 2, 16, 4, 2, 2);

        static Scale of(boolean quick) {
            return quick ? QUICK : FULL;
        }
    }

    /** The text's vocabulary and its training and validation windows. */
    record Data(CharacterVocabulary vocabulary, CharacterIterator train, CharacterIterator validation) {

        static Data of(String corpus, Scale scale, long seed) {
            CharacterVocabulary vocabulary = CharacterVocabulary.of(corpus);
            return new Data(vocabulary, iterator(corpus, vocabulary, Split.TRAIN, scale, seed),
                    iterator(corpus, vocabulary, Split.VALIDATION, scale, seed));
        }

        private static CharacterIterator iterator(String corpus, CharacterVocabulary vocabulary, Split split,
                                                  Scale scale, long seed) {
            return CharacterIterator.builder().text(corpus).vocabulary(vocabulary).sequenceLength(scale.context())
                    .batchSize(scale.batch()).split(split).shuffle(split == Split.TRAIN).seed(seed).build();
        }

        /** The first {@code batches} validation batches, from the start. */
        DataSetIterator validation(int batches) {
            validation.reset();
            return new EarlyTerminationDataSetIterator(validation, batches);
        }
    }

    /**
     * A fresh {@link MoETransformerLM} of this scale over the data's vocabulary, Adam at {@code learningRate}, with a
     * new layer from {@code block} as the feed-forward layer of every block.
     */
    static CharLanguageModel model(Scale scale, Data data, double learningRate, long seed,
                                   Supplier<BaseMoeLayer> block) {
        MoETransformerLM.Builder builder = MoETransformerLM.builder().vocabularySize(data.vocabulary().size())
                .contextLength(scale.context()).dModel(scale.dModel()).heads(scale.heads())
                .updater(new Adam(learningRate)).seed(seed);
        for (int i = 0; i < MoETransformerLM.DEFAULT_LAYERS; i++) {
            builder.feedForwardLayer(i, block.get());
        }
        return new CharLanguageModel(builder.build().init(), data.vocabulary(), scale.context());
    }

    /**
     * An MoE block shaped as the zoo's MOE_TOPK and MOE_TOPP defaults ({@link FeedForwardKind#EXPERTS} experts of
     * hidden width 2d), routed by {@code router}.
     */
    static MoeFeedForward.Builder moeBlock(Scale scale, Router router) {
        return new MoeFeedForward.Builder().numExperts(FeedForwardKind.EXPERTS)
                .expertHidden((long) FeedForwardKind.HIDDEN_MULTIPLIER * scale.dModel() / 2).router(router);
    }

    /** A point of a loss curve: the step's training loss and, where evaluated, the validation loss (else NaN). */
    record Point(int step, double trainLoss, double validationLoss) {
    }

    /**
     * Trains {@code model} for {@code steps} minibatches from the data's current position (the training windows start
     * over when they run out), calling {@code afterStep} with the step number after each; the validation loss is
     * evaluated before the first step, every {@code scale.evalEvery()} steps and after the last.
     */
    static List<Point> train(CharLanguageModel model, Data data, Scale scale, int steps, IntConsumer afterStep) {
        ComputationGraph net = model.network();
        net.addListeners(new NativeMemoryListener(RELEASE_MEMORY_EVERY));
        List<Point> curve = new ArrayList<>();
        curve.add(new Point(0, Double.NaN, validationLoss(model, data, scale)));
        for (int step = 1; step <= steps; step++) {
            if (!data.train().hasNext()) {
                data.train().reset();
            }
            DataSet batch = data.train().next();
            net.fit(batch);
            // DL4J's score of a sequence output is summed over time steps and averaged over examples
            double loss = net.score() * batch.getFeatures().size(0) / batch.getLabelsMaskArray().sumNumber()
                    .doubleValue();
            afterStep.accept(step);
            boolean evaluate = step % scale.evalEvery() == 0 || step == steps;
            curve.add(new Point(step, loss, evaluate ? validationLoss(model, data, scale) : Double.NaN));
        }
        return curve;
    }

    static double validationLoss(CharLanguageModel model, Data data, Scale scale) {
        return model.validationLoss(data.validation(scale.evalBatches()));
    }

    /** The validation loss after the last step of a {@link #train} curve. */
    static double finalValidationLoss(List<Point> curve) {
        return curve.get(curve.size() - 1).validationLoss();
    }
}
