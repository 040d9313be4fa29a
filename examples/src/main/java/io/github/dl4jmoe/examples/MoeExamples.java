package io.github.dl4jmoe.examples;

import java.io.IOException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point: {@code dl4j-moe <program> [options]}; {@code dl4j-moe help <program>} lists a program's options. */
@Command(name = "dl4j-moe", mixinStandardHelpOptions = true, version = "dl4j-moe 0.1.0",
        description = "Mixture-of-Experts examples for Deeplearning4j.",
        subcommands = {TrainCommand.class, GenerateCommand.class, StatsCommand.class, HarderTasksExample.class,
                CharMlpExample.class, UpcycleCommand.class, BenchCommand.class, CommandLine.HelpCommand.class})
public final class MoeExamples {

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /**
     * The command line, for tests and embedding. A user mistake found while running (an argument a program rejects, a
     * missing file) prints its message and exits with 1; other failures keep their stack trace.
     */
    public static CommandLine commandLine() {
        return userFacing(new CommandLine(new MoeExamples()));
    }

    /**
     * Case-insensitive enum values, and user mistakes ({@link IllegalArgumentException}, {@link IOException}) printed
     * as {@code <command>: <message>} with exit code 1, as every program of this project reports them.
     */
    public static CommandLine userFacing(CommandLine cli) {
        return cli.setCaseInsensitiveEnumValuesAllowed(true)
                .setExecutionExceptionHandler((e, commandLine, parseResult) -> {
                    if (!(e instanceof IllegalArgumentException || e instanceof IOException)) {
                        throw e;
                    }
                    commandLine.getErr().println(commandLine.getColorScheme().errorText(
                            commandLine.getCommandName() + ": " + e.getMessage()));
                    return 1;
                });
    }
}
