package io.github.dl4jmoe.examples;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point: {@code dl4j-moe <program> [options]}; {@code dl4j-moe help <program>} lists a program's options. */
@Command(name = "dl4j-moe", mixinStandardHelpOptions = true, version = "dl4j-moe 0.1.0",
        description = "Mixture-of-Experts examples for Deeplearning4j.",
        subcommands = {CharMlpExample.class, UpcycleCommand.class, BenchCommand.class, StatsCommand.class,
                HarderTasksExample.class, CommandLine.HelpCommand.class})
public final class MoeExamples {

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The command line, for tests and embedding. */
    public static CommandLine commandLine() {
        return new CommandLine(new MoeExamples());
    }
}
