package io.github.dl4jmoe.examples;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;

import io.github.dl4jmoe.zoo.CharLanguageModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Samples text from a model saved by {@code train}, or from the pretrained Shakespeare model. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Sample text from a trained character model (default: the pretrained Shakespeare model).")
public final class GenerateCommand implements Callable<Integer> {

    @Option(names = "--model", description = "a model saved by train (default: the pretrained model, loaded offline)")
    Path model;
    @Option(names = "--prompt", defaultValue = "ROMEO:", description = "text to continue (default: ${DEFAULT-VALUE})")
    String prompt;
    @Option(names = "--length", defaultValue = "500", description = "characters to generate "
            + "(default: ${DEFAULT-VALUE})")
    int length;
    @Option(names = "--temperature", defaultValue = "0.8", description = "below 1 is more conservative, above 1 more "
            + "varied (default: ${DEFAULT-VALUE})")
    double temperature;
    @Option(names = "--seed", defaultValue = "42", description = "random seed (default: ${DEFAULT-VALUE})")
    long seed;

    @Override
    public Integer call() throws IOException {
        System.out.println(run());
        return 0;
    }

    /** The prompt followed by the generated characters. */
    public String run() throws IOException {
        CharLanguageModel lm = model == null ? CharLanguageModel.pretrained() : CharLanguageModel.load(model);
        return lm.sample(prompt, length, temperature, seed);
    }
}
