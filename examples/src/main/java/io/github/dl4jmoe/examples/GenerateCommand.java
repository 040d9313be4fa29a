package io.github.dl4jmoe.examples;

import static io.github.dl4jmoe.cli.CommandLines.usage;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;

import io.github.dl4jmoe.cli.FileOptions;
import io.github.dl4jmoe.zoo.CharLanguageModel;
import io.github.dl4jmoe.zoo.PretrainedLanguageModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Samples text from a model saved by {@code train}, or from the pretrained Shakespeare model. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Sample text from a trained character model (default: the pretrained Shakespeare model).")
public final class GenerateCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--model", description = "a model saved by train (default: a pretrained model, loaded offline)")
    Path model;
    @Option(names = "--pretrained", description = "without --model: MOE_TOPP (the default) or PEER, the pretrained "
            + "model with those feed-forward blocks")
    PretrainedLanguageModel pretrained;
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
        validateOptions();
        CharLanguageModel lm = model == null ? Pretrained.load(pretrained)
                : FileOptions.loadCharModel(spec, "--model", model);
        for (char c : prompt.toCharArray()) {
            if (!lm.vocabulary().contains(c)) {
                throw usage(spec, String.format("--prompt: the model does not know the character '%s' (U+%04X); "
                        + "use characters of the text it was trained on", c, (int) c));
            }
        }
        return lm.sample(prompt, length, temperature, seed);
    }

    private void validateOptions() {
        Pretrained.requireOneOf(spec, model, pretrained);
        if (prompt.isEmpty()) {
            throw usage(spec, "--prompt must not be empty (try --prompt ROMEO:)");
        }
        if (length < 0) {
            throw usage(spec, "--length must be 0 or more, got " + length + " (try 500)");
        }
        if (!(temperature > 0) || !Double.isFinite(temperature)) {
            throw usage(spec, "--temperature must be a positive number, got " + temperature + " (try 0.8)");
        }
    }
}
