package io.github.dl4jmoe.examples.experiment;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import io.github.dl4jmoe.cli.CommandLines;
import io.github.dl4jmoe.cli.FileOptions;
import io.github.dl4jmoe.zoo.data.BundledText;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;

/** What every experiment takes: the text, the output folder, quick mode and the seed. */
final class ExperimentOptions {

    /** Training steps per model in quick mode. */
    static final int QUICK_STEPS = 4;

    @Option(names = "--text", description = "UTF-8 text file (default: bundled tiny Shakespeare)")
    Path text;
    @Option(names = "--out", description = "folder for the CSV files, charts and report.md "
            + "(default: experiments/<experiment>)")
    Path out;
    @Option(names = "--quick", description = "a tiny model and a few steps: checks the pipeline in seconds; the "
            + "figures mean nothing")
    boolean quick;
    @Option(names = "--seed", defaultValue = "42", description = "random seed (default: ${DEFAULT-VALUE})")
    long seed;

    String corpus(CommandSpec spec) throws IOException {
        return text == null ? BundledText.TINY_SHAKESPEARE.read() : FileOptions.readText(spec, "--text", text);
    }

    /**
     * A step count: {@code given} if the user gave one (at least 1, else a usage error naming {@code option}), else
     * 4 in quick mode and {@code full} otherwise.
     */
    int steps(CommandSpec spec, String option, Integer given, int full) {
        int n = given != null ? given : quick ? QUICK_STEPS : full;
        if (n < 1) {
            throw CommandLines.usage(spec, option + " must be at least 1, got " + n);
        }
        return n;
    }

    /** The command line that ran this command, as a user would type it. */
    static String commandLine(CommandSpec spec) {
        CommandSpec root = spec;
        while (root.parent() != null) {
            root = root.parent();
        }
        return "./" + root.name() + " " + String.join(" ", spec.commandLine().getParseResult().originalArgs());
    }

    /** The output folder, created; a file in its place is a usage error. */
    Path outputFolder(CommandSpec spec, String experiment) throws IOException {
        Path folder = out != null ? out : Path.of("experiments", experiment);
        if (Files.exists(folder) && !Files.isDirectory(folder)) {
            throw CommandLines.usage(spec, "--out: " + folder + " is a file; name a folder");
        }
        Files.createDirectories(folder);
        return folder;
    }
}
