package io.github.dl4jmoe.cli;

import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.Locale;

import io.github.dl4jmoe.sequence.CausalSelfAttention;
import io.github.dl4jmoe.zoo.CharLanguageModel;
import io.github.dl4jmoe.zoo.FeedForwardKind;
import io.github.dl4jmoe.zoo.MoETransformerLM;
import io.github.dl4jmoe.zoo.data.CharacterVocabulary;
import org.deeplearning4j.exception.DL4JInvalidConfigException;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.learning.config.Adam;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

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

    /** The command this mixin belongs to, for its usage errors. */
    @Spec(Spec.Target.MIXEE)
    CommandSpec spec;

    public int context() {
        return context;
    }

    public long seed() {
        return seed;
    }

    /**
     * Checks the options without building anything, so that a command can reject them before it reads data or
     * trains.
     *
     * @throws picocli.CommandLine.ParameterException naming the option, the value and a fix
     */
    public void validate() {
        require(layers >= 1, "--layers must be at least 1, got " + layers + " (the default is "
                + MoETransformerLM.DEFAULT_LAYERS + ")");
        require(dModel >= 2, "--d-model must be at least 2, got " + dModel + " (the default is "
                + MoETransformerLM.DEFAULT_D_MODEL + ")");
        require(heads >= 1 && dModel % heads == 0, "--heads must divide --d-model " + dModel + ", got " + heads
                + " (try --heads " + CausalSelfAttention.largestDivisorAtMost(dModel, Math.max(1, heads)) + ")");
        require(context >= 1, "--context must be at least 1, got " + context + " (the default is "
                + MoETransformerLM.DEFAULT_CONTEXT_LENGTH + ")");
        require(learningRate > 0 && Double.isFinite(learningRate), "--lr must be a positive number, got "
                + learningRate + " (the default is " + MoETransformerLM.DEFAULT_LEARNING_RATE + ")");
        require(feedForward.length == 1 || feedForward.length == layers, "--ffn names " + feedForward.length
                + " kinds for " + layers + " layers (give one kind, or one per layer)");
        for (FeedForwardKind kind : new LinkedHashSet<>(Arrays.asList(feedForward))) {
            String misfit = misfit(kind, dModel);
            require(misfit == null, "--ffn " + kind.name().toLowerCase(Locale.ROOT) + " does not fit --d-model "
                    + dModel + ": " + misfit + " (try --d-model " + fittingWidth() + ")");
        }
    }

    /** A freshly initialised model over {@code vocabulary}; {@link #validate() validates} the options first. */
    public CharLanguageModel newModel(CharacterVocabulary vocabulary) {
        validate();
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

    /** Why the default layer of {@code kind} cannot have width {@code d}, or null when it can. */
    private static String misfit(FeedForwardKind kind, int d) {
        try {
            kind.defaultLayer(d);
            return null;
        } catch (IllegalArgumentException | DL4JInvalidConfigException e) {
            return e.getMessage();
        }
    }

    /** The nearest width above --d-model that --heads divides and every --ffn kind fits. */
    private int fittingWidth() {
        for (int d = dModel + 1; ; d++) {
            int width = d;
            if (d % heads == 0 && Arrays.stream(feedForward).allMatch(kind -> misfit(kind, width) == null)) {
                return d;
            }
        }
    }

    private void require(boolean ok, String message) {
        if (!ok) {
            throw CommandLines.usage(spec, message);
        }
    }
}
