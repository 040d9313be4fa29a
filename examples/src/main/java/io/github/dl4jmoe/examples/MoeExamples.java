package io.github.dl4jmoe.examples;

import io.github.dl4jmoe.cli.CommandLines;
import io.github.dl4jmoe.examples.experiment.ExperimentCommand;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point: {@code dl4j-moe <program> [options]}; {@code dl4j-moe help <program>} lists a program's options. */
@Command(name = "dl4j-moe", mixinStandardHelpOptions = true, version = "dl4j-moe 0.1.0",
        description = "Mixture-of-Experts examples for Deeplearning4j.",
        subcommands = {TrainCommand.class, GenerateCommand.class, StatsCommand.class, HarderTasksExample.class,
                CharMlpExample.class, UpcycleCommand.class, BenchCommand.class, UiCommand.class,
                ExperimentCommand.class, CommandLine.HelpCommand.class})
public final class MoeExamples {

    /** Runs a program; ND4J's startup messages are left out unless {@value CommandLines#VERBOSE} is given. */
    public static void main(String[] args) {
        CommandLines.quietLoggers(args);
        CommandLines.useNativeThreadDefault();
        System.exit(commandLine().execute(args));
    }

    /**
     * The command line, for tests and embedding. Every error prints one line naming the option or file and the fix,
     * exit code 2 for a usage error and 1 for a failure while running, with a stack trace only under
     * {@code --verbose} ({@link CommandLines#userFacing}).
     */
    public static CommandLine commandLine() {
        return CommandLines.userFacing(new CommandLine(new MoeExamples()));
    }
}
