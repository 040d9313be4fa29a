package io.github.dl4jmoe.examples;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

import io.github.dl4jmoe.cli.CommandLines;
import io.github.dl4jmoe.cli.FileOptions;
import io.github.dl4jmoe.examples.ui.TrainingUi;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Opens a finished run, recorded by {@code train --ui --ui-file}, in DL4J's training UI with the routing page, on the
 * loopback interface unless {@code --host} says otherwise; serves until interrupted or for {@code --minutes}.
 */
@Command(name = "ui", mixinStandardHelpOptions = true,
        description = "Open a run recorded with train --ui --ui-file in DL4J's training UI (routing page: /routing).")
public final class UiCommand implements Callable<Integer> {

    @Option(names = "--file", required = true, description = "statistics file written by train --ui-file")
    Path file;
    @Option(names = "--port", defaultValue = "" + TrainingUi.DEFAULT_PORT, description = "TCP port, 0 = any free "
            + "one (default: ${DEFAULT-VALUE})")
    int port;
    @Option(names = "--host", description = "address to listen on (default: the loopback interface, this machine "
            + "only)")
    String host;
    @Option(names = "--minutes", description = "stop after this many minutes (default: serve until interrupted)")
    Double minutes;
    @Spec
    CommandSpec spec;

    /** Highest TCP port. */
    private static final int MAX_PORT = 0xFFFF;

    @Override
    public Integer call() throws IOException, InterruptedException {
        TrainingUi ui = open(System.out);
        try {
            if (minutes == null) {
                Thread.currentThread().join();      // until interrupted (Ctrl-C ends the JVM)
            } else {
                TimeUnit.MILLISECONDS.sleep((long) (minutes * 60_000));
            }
        } finally {
            ui.close();
        }
        return 0;
    }

    /** Starts the UI on the file and prints where; the caller closes it. */
    public TrainingUi open(PrintStream log) {
        FileOptions.requireFile(spec, "--file", file, "a statistics file written by train --ui-file");
        if (port < 0 || port > MAX_PORT) {
            throw CommandLines.usage(spec, "--port must be 0 to " + MAX_PORT + ", got " + port + " (try "
                    + TrainingUi.DEFAULT_PORT + ", or 0 for any free port)");
        }
        if (minutes != null && !(minutes > 0)) {
            throw CommandLines.usage(spec, "--minutes must be > 0, got " + minutes);
        }
        return TrainingUi.startFor(spec, new TrainingUi.OptionNames("--host", "--port", "--file"), host, port, file,
                "training UI", log);
    }
}
