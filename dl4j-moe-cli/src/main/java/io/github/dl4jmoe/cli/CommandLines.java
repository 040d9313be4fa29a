package io.github.dl4jmoe.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.util.List;
import java.util.Map;

import io.github.dl4jmoe.host.NativeThreads;
import io.github.dl4jmoe.zoo.checkpoint.TrainingDivergedException;
import org.deeplearning4j.exception.DL4JException;
import org.nd4j.linalg.exception.ND4JException;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.UnmatchedArgumentException;

/**
 * How every program of this project sets up its picocli command line and reports mistakes: one line
 * {@code <command>: <what was wrong and what to do>} on standard error, and an exit code that says whose the mistake
 * was.
 * <ul>
 *   <li>{@value #USAGE_ERROR} (picocli's {@link ParameterException} convention): the command line asks for something
 *       impossible, found before any training: an unknown option, an option value out of range or contradicting
 *       another option, or a file option naming a file that is missing, unreadable or of the wrong kind (not a model
 *       of the kind the command needs, not UTF-8, too short). Commands throw {@link #usage}.</li>
 *   <li>{@value #FAILURE}: a well-formed command failed while running: an I/O error, a DL4J or ND4J error, memory, a
 *       bug.</li>
 * </ul>
 * No stack trace is printed unless the global option {@value #VERBOSE} is given, and the libraries' startup and
 * progress messages are kept off standard error unless it is ({@link #quietLoggers}).
 */
public final class CommandLines {

    /** Exit code of a usage error. */
    public static final int USAGE_ERROR = 2;
    /** Exit code of a failure while running. */
    public static final int FAILURE = 1;
    /** The option, accepted by every command and subcommand, that adds the stack trace to an error. */
    public static final String VERBOSE = "--verbose";
    /**
     * Levels of chatty loggers when slf4j-simple is the binding (a cluster's own log4j configuration is not touched):
     * ND4J's backend banner (about 13 lines at INFO before every run, even before a one-line error), DL4J's line on
     * each network's workspace modes, and for Spark programs Spark, Hadoop and DL4J's Spark classes, which log every
     * stage at INFO, and SameDiff, which warns about unmapped op properties whenever a worker rebuilds the network,
     * that is every round.
     */
    static final Map<String, String> QUIET_LOGGERS = Map.ofEntries(
            Map.entry("org.nd4j.linalg.factory.Nd4jBackend", "warn"), Map.entry("org.nd4j.nativeblas", "warn"),
            Map.entry("org.nd4j.linalg.cpu.nativecpu", "warn"), Map.entry("org.nd4j.linalg.jcublas", "warn"),
            Map.entry("org.nd4j.jita", "warn"), Map.entry("org.nd4j.linalg.api.ops.executioner", "warn"),
            Map.entry("org.deeplearning4j.nn.multilayer.MultiLayerNetwork", "warn"),
            Map.entry("org.deeplearning4j.nn.graph.ComputationGraph", "warn"),
            Map.entry("org.apache.spark", "warn"), Map.entry("org.sparkproject", "warn"),
            Map.entry("org.apache.hadoop", "warn"), Map.entry("org.deeplearning4j.spark", "warn"),
            Map.entry("org.nd4j.autodiff.functions.DifferentialFunction", "error"));
    private static final String LOGGER_PROPERTY = "org.slf4j.simpleLogger.log.";

    private CommandLines() {
    }

    /**
     * Lowers the levels of {@link #QUIET_LOGGERS} unless {@code args} hold {@value #VERBOSE} or the user set a level
     * with the logger's system property. Call it first in {@code main}: slf4j-simple reads a logger's level when the
     * logger is created, and ND4J creates its loggers when its backend loads.
     */
    public static void quietLoggers(String... args) {
        if (List.of(args).contains(VERBOSE)) {
            return;
        }
        QUIET_LOGGERS.forEach((logger, level) -> {
            String property = LOGGER_PROPERTY + logger;
            System.setProperty(property, System.getProperty(property, level));
        });
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
     * Case-insensitive enum values, the global {@value #VERBOSE} option, and every error reported as one line with
     * exit code {@value #USAGE_ERROR} or {@value #FAILURE} (see the class comment).
     *
     * @param cli a command line with all its subcommands added
     * @return {@code cli}, configured
     */
    public static CommandLine userFacing(CommandLine cli) {
        cli.getCommandSpec().addOption(OptionSpec.builder(VERBOSE).scopeType(ScopeType.INHERIT).arity("0")
                .type(boolean.class).description("print the libraries' startup messages, and on an error its stack "
                        + "trace").build());
        return cli.setCaseInsensitiveEnumValuesAllowed(true)
                .setParameterExceptionHandler(CommandLines::reportUsageError)
                .setExecutionExceptionHandler((e, commandLine, parseResult) ->
                        reportFailure(e, commandLine, verbose(parseResult)));
    }

    /**
     * A usage error of the running command ({@value #USAGE_ERROR}): {@code message} names the option or file, says
     * what is wrong and what to do, e.g. "--steps must be at least 1, got 0".
     */
    public static ParameterException usage(CommandSpec spec, String message) {
        return new OptionMistake(spec.commandLine(), message);
    }

    /** The same, keeping the exception that revealed the mistake for {@value #VERBOSE}. */
    public static ParameterException usage(CommandSpec spec, String message, Throwable cause) {
        return new OptionMistake(spec.commandLine(), message, cause);
    }

    private static int reportUsageError(ParameterException e, String[] args) {
        CommandLine cli = e.getCommandLine();
        String message = oneLine(e.getMessage());
        if (!(e instanceof OptionMistake)) {          // picocli's own parse errors say what, not what to do
            String help = cli.getCommandSpec().qualifiedName() + " --help";
            List<String> suggestions = e instanceof UnmatchedArgumentException u ? u.getSuggestions() : List.of();
            message += suggestions.isEmpty() ? " (" + help + " lists the options)"
                    : " (did you mean " + String.join(" or ", suggestions) + "? " + help + " lists the options)";
        }
        PrintWriter err = cli.getErr();
        if (List.of(args).contains(VERBOSE)) {
            e.printStackTrace(err);
        }
        err.println(cli.getColorScheme().errorText(cli.getCommandSpec().qualifiedName() + ": " + message));
        err.flush();
        return USAGE_ERROR;
    }

    private static int reportFailure(Exception e, CommandLine cli, boolean verbose) {
        PrintWriter err = cli.getErr();
        if (verbose) {
            e.printStackTrace(err);
        }
        err.println(cli.getColorScheme().errorText(cli.getCommandSpec().qualifiedName() + ": " + describe(e)));
        err.flush();
        return FAILURE;
    }

    /** What went wrong, in one line: the message of a known kind of error, else its type and a hint. */
    static String describe(Throwable e) {
        Throwable t = unwrap(e);
        String message = t.getMessage() == null || t.getMessage().isBlank() ? null : oneLine(t.getMessage());
        if (t instanceof NoSuchFileException f) {
            return f.getReason() != null ? message : f.getFile() + ": no such file or directory";
        }
        if (t instanceof AccessDeniedException f) {
            return f.getFile() + ": permission denied" + (f.getReason() == null ? "" : " (" + f.getReason() + ")");
        }
        if (t instanceof FileSystemException f && f.getReason() == null) {
            return message + ": " + t.getClass().getSimpleName();
        }
        if (message != null && (t instanceof IllegalArgumentException || t instanceof IOException
                || t instanceof DL4JException || t instanceof ND4JException
                || t instanceof TrainingDivergedException)) {
            return message;
        }
        if (t instanceof OutOfMemoryError) {
            return "out of memory (" + message + "); give the JVM more, e.g. JAVA_OPTS=-Xmx8g, or use smaller "
                    + "--batch-size or model options";
        }
        return t.getClass().getName() + (message == null ? "" : ": " + message)
                + " (an internal error: run again with " + VERBOSE + " for the stack trace, and report it)";
    }

    /** The exception that says what went wrong, inside the wrappers that only carry it. */
    private static Throwable unwrap(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t && (t instanceof UncheckedIOException
                || t.getClass() == RuntimeException.class && String.valueOf(t.getMessage())
                .equals(t.getCause().toString()))) {
            t = t.getCause();
        }
        return t;
    }

    private static String oneLine(String message) {
        return message.strip().replaceAll("\\s*\\R\\s*", " ");
    }

    private static boolean verbose(ParseResult parseResult) {
        for (ParseResult p = parseResult; p != null; p = p.subcommand()) {
            if (p.hasMatchedOption(VERBOSE)) {
                return true;
            }
        }
        return false;
    }

    /** A usage error found by a command ({@link #usage}), whose message already says what to do. */
    private static final class OptionMistake extends ParameterException {
        private static final long serialVersionUID = 1L;

        OptionMistake(CommandLine commandLine, String message) {
            super(commandLine, message);
        }

        OptionMistake(CommandLine commandLine, String message, Throwable cause) {
            super(commandLine, message, cause);
        }
    }
}
