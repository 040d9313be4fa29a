package io.github.dl4jmoe.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.file.NoSuchFileException;
import java.util.concurrent.Callable;

import org.deeplearning4j.exception.DL4JInvalidConfigException;
import org.deeplearning4j.exception.DL4JInvalidInputException;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

class CommandLinesTest {

    enum Failure { NONE, USAGE, ARGUMENT, FILE, UNCHECKED_FILE, DL4J_INPUT, DL4J_CONFIG, BUG }

    @Command(name = "fails", subcommands = Fails.Sub.class)
    static final class Fails implements Callable<Integer> {
        @Spec
        CommandSpec spec;
        @Option(names = "--failure", defaultValue = "NONE")
        Failure failure;
        @Option(names = "--steps", defaultValue = "1")
        int steps;

        @Override
        public Integer call() throws IOException {
            switch (failure) {
                case USAGE -> throw CommandLines.usage(spec, "--steps must be at least 1, got 0 (try 100)");
                case ARGUMENT -> throw new IllegalArgumentException("Layer(name=ffn): nOut must be even,\n got 3");
                case FILE -> throw new NoSuchFileException("missing.zip");
                case UNCHECKED_FILE -> throw new UncheckedIOException(new IOException("x.txt is not UTF-8 text"));
                case DL4J_INPUT -> throw new DL4JInvalidInputException("Received input with size(1) = 3; input.size(1) "
                        + "must match layer nIn size (nIn = 4)");
                case DL4J_CONFIG -> throw new RuntimeException(new DL4JInvalidConfigException("Invalid configuration "
                        + "for layer (idx=0, name=out): nOut = 0"));
                case BUG -> throw new IllegalStateException("a bug");
                default -> {
                    return 0;
                }
            }
        }

        @Command(name = "sub")
        static final class Sub implements Callable<Integer> {
            @Override
            public Integer call() {
                throw new IllegalStateException("a bug in a subcommand");
            }
        }
    }

    private final StringWriter err = new StringWriter();

    private int run(String... args) {
        CommandLine cli = CommandLines.userFacing(new CommandLine(new Fails()));
        cli.setErr(new PrintWriter(err, true));
        return cli.execute(args);
    }

    /** Asserts the exit code and that standard error is exactly {@code line}. */
    private void assertOneLine(int exitCode, String line, String... args) {
        assertEquals(exitCode, run(args), err.toString());
        assertEquals(line + System.lineSeparator(), err.toString());
    }

    @Test
    void enumValuesIgnoreCase() {
        assertEquals(0, run("--failure", "none"));
        assertEquals("", err.toString());
    }

    @Test
    void usageErrorsOfACommandAreOneLineWithExitCodeTwo() {
        assertOneLine(2, "fails: --steps must be at least 1, got 0 (try 100)", "--failure", "usage");
    }

    @Test
    void picocliParseErrorsAreOneLineWithExitCodeTwoAndPointToHelp() {
        assertOneLine(2, "fails: Unknown options: '--step', '3' (did you mean --steps? fails --help lists the options)",
                "--step", "3");
        err.getBuffer().setLength(0);
        assertOneLine(2, "fails: Invalid value for option '--steps': 'x' is not an int (fails --help lists the "
                + "options)", "--steps", "x");
    }

    @Test
    void failuresAreOneLineWithExitCodeOne() {
        assertOneLine(1, "fails: Layer(name=ffn): nOut must be even, got 3", "--failure", "argument");
    }

    @Test
    void aMissingFileIsNamed() {
        assertOneLine(1, "fails: missing.zip: no such file or directory", "--failure", "file");
    }

    @Test
    void anUncheckedFileErrorShowsItsCause() {
        assertOneLine(1, "fails: x.txt is not UTF-8 text", "--failure", "unchecked_file");
    }

    @Test
    void dl4jInputErrorsShowTheirMessage() {
        assertOneLine(1, "fails: Received input with size(1) = 3; input.size(1) must match layer nIn size (nIn = 4)",
                "--failure", "dl4j_input");
    }

    @Test
    void dl4jConfigErrorsShowTheirMessageThroughAWrapper() {
        assertOneLine(1, "fails: Invalid configuration for layer (idx=0, name=out): nOut = 0", "--failure",
                "dl4j_config");
    }

    @Test
    void otherFailuresAreOneLineThatPointsToVerbose() {
        assertOneLine(1, "fails: java.lang.IllegalStateException: a bug (an internal error: run again with --verbose "
                + "for the stack trace, and report it)", "--failure", "bug");
        err.getBuffer().setLength(0);
        assertOneLine(1, "fails sub: java.lang.IllegalStateException: a bug in a subcommand (an internal error: run "
                + "again with --verbose for the stack trace, and report it)", "sub");
    }

    @Test
    void verboseAddsTheStackTraceOnAnyCommand() {
        assertEquals(1, run("--verbose", "--failure", "bug"));
        assertTrue(err.toString().contains("java.lang.IllegalStateException: a bug\n\tat ")
                || err.toString().contains("java.lang.IllegalStateException: a bug" + System.lineSeparator() + "\tat "),
                err.toString());
        err.getBuffer().setLength(0);
        assertEquals(1, run("sub", "--verbose"));
        assertTrue(err.toString().contains("\tat "), err.toString());
        err.getBuffer().setLength(0);
        assertEquals(2, run("--failure", "usage", "--verbose"));
        assertTrue(err.toString().contains("\tat "), err.toString());
    }

    @Test
    void withoutVerboseNoErrorPrintsAStackTrace() {
        for (Failure f : Failure.values()) {
            run("--failure", f.name());
            assertFalse(err.toString().contains("\tat "), "no stack trace: " + err);
        }
    }
}
