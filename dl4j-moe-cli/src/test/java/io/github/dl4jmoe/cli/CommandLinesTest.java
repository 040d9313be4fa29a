package io.github.dl4jmoe.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.NoSuchFileException;
import java.util.concurrent.Callable;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

class CommandLinesTest {

    enum Failure { NONE, ARGUMENT, FILE, BUG }

    @Command(name = "fails")
    static final class Fails implements Callable<Integer> {
        @Option(names = "--failure", defaultValue = "NONE")
        Failure failure;

        @Override
        public Integer call() throws IOException {
            switch (failure) {
                case ARGUMENT -> throw new IllegalArgumentException("--steps must be at least 1, got 0");
                case FILE -> throw new NoSuchFileException("missing.zip");
                case BUG -> throw new IllegalStateException("a bug");
                default -> {
                    return 0;
                }
            }
        }
    }

    private final StringWriter err = new StringWriter();

    private int run(String... args) {
        CommandLine cli = CommandLines.userFacing(new CommandLine(new Fails()));
        cli.setErr(new PrintWriter(err, true));
        return cli.execute(args);
    }

    @Test
    void enumValuesIgnoreCase() {
        assertEquals(0, run("--failure", "none"));
        assertEquals("", err.toString());
    }

    @Test
    void userMistakesPrintTheCommandAndMessageAndExitWithOne() {
        assertEquals(1, run("--failure", "argument"));
        assertEquals("fails: --steps must be at least 1, got 0", err.toString().strip());
        assertEquals(1, run("--failure", "file"));
        assertTrue(err.toString().endsWith("fails: missing.zip" + System.lineSeparator()), err.toString());
        assertFalse(err.toString().contains("\tat "), "no stack trace: " + err);
    }

    @Test
    void otherFailuresKeepTheirStackTrace() {
        assertEquals(1, run("--failure", "bug"));
        assertTrue(err.toString().contains("java.lang.IllegalStateException: a bug"), err.toString());
        assertTrue(err.toString().contains("\tat "), err.toString());
    }
}
