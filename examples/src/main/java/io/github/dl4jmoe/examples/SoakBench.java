package io.github.dl4jmoe.examples;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

import io.github.dl4jmoe.cli.CommandLines;
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
 * Resident memory over a long training run: trains the examples' default {@link MoETransformerLM} with each
 * feed-forward kind and prints, per kind, the process's resident set ({@code VmRSS}, which counts ND4J's off-heap
 * memory; the Java heap alone would not) after the first {@code --at} steps and at the end. Run it with a small heap
 * ({@code -Xmx1g}): memory that grows with the number of steps ends such a run.
 */
@Command(name = "soak", mixinStandardHelpOptions = true,
        description = "Resident memory of MoETransformerLM training over many steps, per feed-forward kind.")
public final class SoakBench implements Callable<Integer> {

    @Mixin
    BenchTrainingOptions model;
    @Option(names = "--steps", defaultValue = "3000", description = "training steps per kind "
            + "(default: ${DEFAULT-VALUE})")
    int steps;
    @Option(names = "--at", defaultValue = "500", description = "the step of the first reading "
            + "(default: ${DEFAULT-VALUE})")
    int at;
    @Spec
    CommandSpec spec;

    /** One kind's run: resident megabytes after {@code at} steps and at the end. */
    public record Result(FeedForwardKind kind, int steps, int at, double rssAt, double rssEnd, double seconds) {
        public double growth() {
            return rssEnd / rssAt;
        }

        @Override
        public String toString() {
            return String.format("soak ffn=%s steps=%d rss_mb_%d=%.0f rss_mb_end=%.0f growth=%.3f (%.0f s)", kind,
                    steps, at, rssAt, rssEnd, growth(), seconds);
        }
    }

    @Override
    public Integer call() throws IOException {
        run(System.out);
        return 0;
    }

    public List<Result> run(PrintStream out) throws IOException {
        validateOptions();
        String text = BundledText.TINY_SHAKESPEARE.read();
        CharacterVocabulary vocabulary = CharacterVocabulary.of(text);
        List<Result> results = new ArrayList<>();
        for (FeedForwardKind kind : model.kinds) {
            Result r = soak(kind, text, vocabulary);
            out.println(r);
            results.add(r);
        }
        return results;
    }

    private Result soak(FeedForwardKind kind, String text, CharacterVocabulary vocabulary) throws IOException {
        BenchTraining training = model.training(kind, text, vocabulary);
        long start = System.nanoTime();
        double rssAt = 0;
        for (int step = 1; step <= steps; step++) {
            training.step();
            if (step == at) {
                rssAt = residentMegabytes();
            }
        }
        double rssEnd = residentMegabytes();
        return new Result(kind, steps, at, rssAt, rssEnd, (System.nanoTime() - start) / 1e9);
    }

    /** This process's resident set in MB, from {@code /proc/self/status} (Linux). */
    static double residentMegabytes() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("\\D+", "")) / 1024.0;
            }
        }
        throw new IOException("no VmRSS line in /proc/self/status (the soak benchmark reads Linux's)");
    }

    /** Every check that needs no training, each failure a usage error naming the option. */
    private void validateOptions() {
        require(steps >= 2 && at >= 1 && at < steps, "--at must be at least 1 and below --steps, got --at " + at
                + " and --steps " + steps);
        model.validate(spec);
    }

    private void require(boolean ok, String message) {
        if (!ok) {
            throw CommandLines.usage(spec, message);
        }
    }
}
