package io.github.dl4jmoe.cli;

import io.github.dl4jmoe.zoo.CharLanguageModel;
import io.github.dl4jmoe.zoo.FeedForwardKind;
import io.github.dl4jmoe.zoo.MoETransformerLM;
import io.github.dl4jmoe.zoo.data.CharacterVocabulary;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.learning.config.Adam;
import picocli.CommandLine.Option;

/**
 * The options that define a new {@link MoETransformerLM} character model, shared as a picocli mixin by every program
 * that trains one ({@code train} in the examples module, and {@code spark-train} in dl4j-moe-spark).
 */
public final class ModelOptions {

    @Option(names = "--ffn", split = ",", defaultValue = "MOE_TOPP",
            description = "feed-forward kind of every block, or one per block separated by commas: "
                    + "${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE})")
    FeedForwardKind[] feedForward;
    @Option(names = "--layers", defaultValue = "2", description = "transformer blocks (default: ${DEFAULT-VALUE})")
    int layers;
    @Option(names = "--d-model", defaultValue = "64", description = "model width (default: ${DEFAULT-VALUE})")
    int dModel;
    @Option(names = "--heads", defaultValue = "4", description = "attention heads (default: ${DEFAULT-VALUE})")
    int heads;
    @Option(names = "--context", defaultValue = "64", description = "characters per training window and context "
            + "length (default: ${DEFAULT-VALUE})")
    int context;
    @Option(names = "--lr", defaultValue = "2e-3", description = "Adam learning rate (default: ${DEFAULT-VALUE})")
    double learningRate;
    @Option(names = "--seed", defaultValue = "42", description = "random seed (default: ${DEFAULT-VALUE})")
    long seed;

    public int context() {
        return context;
    }

    public long seed() {
        return seed;
    }

    /** A freshly initialised model over {@code vocabulary}. */
    public CharLanguageModel newModel(CharacterVocabulary vocabulary) {
        if (feedForward.length != 1 && feedForward.length != layers) {
            throw new IllegalArgumentException("--ffn names " + feedForward.length + " kinds for " + layers
                    + " layers (give one kind, or one per layer)");
        }
        MoETransformerLM.Builder builder = MoETransformerLM.builder().vocabularySize(vocabulary.size())
                .contextLength(context).dModel(dModel).layers(layers).heads(heads).updater(new Adam(learningRate))
                .seed(seed);
        if (feedForward.length == 1) {
            builder.feedForward(feedForward[0]);
        } else {
            builder.feedForward(feedForward);
        }
        ComputationGraph net = builder.build().init();
        return new CharLanguageModel(net, vocabulary, context);
    }
}
