package io.github.dl4jmoe.examples;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

import io.github.dl4jmoe.cli.CommandLines;
import io.github.dl4jmoe.cli.FileOptions;
import io.github.dl4jmoe.zoo.FeedForwardKind;
import io.github.dl4jmoe.zoo.MoETransformerLM;
import io.github.dl4jmoe.zoo.data.BundledText;
import io.github.dl4jmoe.zoo.data.CharacterVocabulary;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Training speed of the examples' default {@link MoETransformerLM} (2 blocks, d = 64, 4 heads, 32 x 64 characters per
 * step) with each feed-forward kind, measured as {@code shared/bench/lm_torch.py} measures its model: untimed warm-up
 * steps, then timed steps of random windows of the text, and one line per kind in its format. The JVM compiles the
 * hot code during the warm-up; {@code train}'s own tokens/s count that time too.
 */
@Command(name = "lm", mixinStandardHelpOptions = true,
        description = "Training speed of MoETransformerLM per feed-forward kind, after a warm-up (as lm_torch.py).")
public final class LanguageModelBench implements Callable<Integer> {

    @Mixin
    BenchTrainingOptions model;
    @Option(names = "--steps", defaultValue = "300", description = "timed steps per kind (default: ${DEFAULT-VALUE})")
    int steps;
    @Option(names = "--warmup", defaultValue = "50", description = "untimed steps before them "
            + "(default: ${DEFAULT-VALUE})")
    int warmup;
    @Option(names = "--text", description = "UTF-8 text file (default: bundled tiny Shakespeare; pass the same file "
            + "to lm_torch.py --text)")
    Path text;
    @Spec
    CommandSpec spec;

    /**
     * One kind's timed steps.
     *
     * @param loss the last step's score per character (DL4J sums a sequence's steps), auxiliary losses included as
     *             lm_torch.py includes them
     */
    public record Result(FeedForwardKind kind, int steps, long tokens, double seconds, double loss) {
        public double tokensPerSecond() {
            return tokens / seconds;
        }

        @Override
        public String toString() {
            return String.format("lm-train tokens/s=%.0f step_ms=%.1f ffn=%s loss=%.3f", tokensPerSecond(),
                    1000 * seconds / steps, kind.name().toLowerCase(Locale.ROOT), loss);
        }
    }

    @Override
    public Integer call() throws IOException {
        run(System.out);
        return 0;
    }

    public List<Result> run(PrintStream out) throws IOException {
        require(steps >= 1, "--steps must be at least 1, got " + steps + " (try 300)");
        require(warmup >= 0, "--warmup must be 0 or more, got " + warmup + " (try 50)");
        model.validate(spec);
        String corpus = text == null ? BundledText.TINY_SHAKESPEARE.read() : FileOptions.readText(spec, "--text", text);
        CharacterVocabulary vocabulary = CharacterVocabulary.of(corpus);
        List<Result> results = new ArrayList<>();
        for (FeedForwardKind kind : model.kinds) {
            Result r = measure(kind, corpus, vocabulary);
            out.println(r);
            results.add(r);
        }
        Result dense = results.stream().filter(r -> r.kind() == FeedForwardKind.DENSE).findFirst().orElse(null);
        for (Result r : results) {
            if (dense != null && r != dense) {
                out.printf("%s: %.2f of dense%n", r.kind(), r.tokensPerSecond() / dense.tokensPerSecond());
            }
        }
        return results;
    }

    private Result measure(FeedForwardKind kind, String corpus, CharacterVocabulary vocabulary) {
        BenchTraining training = model.training(kind, corpus, vocabulary);
        for (int step = 0; step < warmup; step++) {
            training.step();
        }
        long tokens = 0;
        long start = System.nanoTime();
        for (int step = 0; step < steps; step++) {
            tokens += training.step();
        }
        return new Result(kind, steps, tokens, (System.nanoTime() - start) / 1e9,
                training.network().score() / model.context);
    }

    private void require(boolean ok, String message) {
        if (!ok) {
            throw CommandLines.usage(spec, message);
        }
    }
}
