package io.github.dl4jmoe.examples;

import io.github.dl4jmoe.cli.CommandLines;
import io.github.dl4jmoe.zoo.FeedForwardKind;
import io.github.dl4jmoe.zoo.data.CharacterVocabulary;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;

/** The options the training benchmarks share (a picocli mixin): the feed-forward kinds and the batch shape. */
public final class BenchTrainingOptions {

    @Option(names = "--ffn", split = ",", defaultValue = "DENSE,MOE_TOPK,MOE_TOPP,PEER,FINER_MOE",
            description = "feed-forward kinds, one run each (default: ${DEFAULT-VALUE})")
    FeedForwardKind[] kinds;
    @Option(names = "--batch-size", defaultValue = "32", description = "windows per step (default: ${DEFAULT-VALUE})")
    int batchSize;
    @Option(names = "--context", defaultValue = "64", description = "characters per window "
            + "(default: ${DEFAULT-VALUE})")
    int context;

    /** Checks the batch shape; a mistake is a usage error of {@code spec}'s command naming the option. */
    void validate(CommandSpec spec) {
        if (batchSize < 1) {
            throw CommandLines.usage(spec, "--batch-size must be at least 1, got " + batchSize + " (try 32)");
        }
        if (context < 1) {
            throw CommandLines.usage(spec, "--context must be at least 1, got " + context + " (try 64)");
        }
    }

    /** A fresh model of {@code kind} and the windows of {@code text} it trains on. */
    BenchTraining training(FeedForwardKind kind, String text, CharacterVocabulary vocabulary) {
        return BenchTraining.of(kind, text, vocabulary, context, batchSize);
    }
}
