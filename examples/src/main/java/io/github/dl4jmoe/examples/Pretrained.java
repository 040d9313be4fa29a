package io.github.dl4jmoe.examples;

import java.io.IOException;
import java.nio.file.Path;

import io.github.dl4jmoe.cli.CommandLines;
import io.github.dl4jmoe.zoo.CharLanguageModel;
import io.github.dl4jmoe.zoo.PretrainedLanguageModel;
import picocli.CommandLine.Model.CommandSpec;

/** The {@code --pretrained} option of the commands that read a model, beside their {@code --model}. */
final class Pretrained {

    private Pretrained() {
    }

    /** A usage error if both options are given: a saved model or a pretrained one, not both. */
    static void requireOneOf(CommandSpec spec, Path model, PretrainedLanguageModel pretrained) {
        if (model != null && pretrained != null) {
            throw CommandLines.usage(spec, "--model and --pretrained name two models; pass one of them");
        }
    }

    /** The pretrained model chosen, {@link PretrainedLanguageModel#MOE_TOPP} if none was. */
    static CharLanguageModel load(PretrainedLanguageModel pretrained) throws IOException {
        return (pretrained == null ? PretrainedLanguageModel.MOE_TOPP : pretrained).load();
    }
}
