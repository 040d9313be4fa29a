package io.github.dl4jmoe.cli;

import java.io.IOException;

import io.github.dl4jmoe.host.NativeThreads;
import picocli.CommandLine;

/** How every program of this project sets up its picocli command line. */
public final class CommandLines {

    private CommandLines() {
    }

    /**
     * The native thread setting every program starts with: one thread per ND4J operation, which trains this project's
     * small models fastest ({@link NativeThreads}), unless the user chose otherwise with the system property
     * {@value NativeThreads#PROPERTY} or the environment variable {@code OMP_NUM_THREADS}.
     */
    public static void useNativeThreadDefault() {
        NativeThreads.setFromProperty(System.getenv("OMP_NUM_THREADS") == null ? 1 : 0);
    }

    /**
     * Case-insensitive enum values, and user mistakes ({@link IllegalArgumentException}, {@link IOException}) printed
     * as {@code <command>: <message>} with exit code 1, as every program of this project reports them; other failures
     * keep their stack trace.
     *
     * @return {@code cli}, configured
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
