package io.github.dl4jmoe.examples.experiment;

import io.github.dl4jmoe.zoo.MoETransformerLM;
import picocli.CommandLine.Option;

/** {@code --lr} of the experiments that train the examples' language model (a picocli mixin). */
final class LearningRateOption {

    @Option(names = "--lr", defaultValue = "" + MoETransformerLM.DEFAULT_LEARNING_RATE,
            description = "Adam learning rate (default: ${DEFAULT-VALUE})")
    double learningRate;
}
