package io.github.dl4jmoe.examples.ui;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.github.dl4jmoe.examples.MoeExamples;

/**
 * {@code dl4j-moe train --ui --ui-port 0} of {@link TinyRun}'s model in a JVM of its own, as a user starts it, with
 * more steps than a test waits for: the run trains, and its UI serves, until {@link #close()} stops the JVM (or, should
 * the test's JVM die first, until {@link #MINUTES} have passed).
 */
final class LiveTraining implements AutoCloseable {

    /** More steps than the run reaches before it is stopped. */
    private static final int STEPS = 1_000_000;
    /** How long an orphaned run trains at most. */
    private static final String MINUTES = "5";
    private static final long STOP_SECONDS = 30;
    private static final long POLL_MILLIS = 100;
    private static final Pattern URL = Pattern.compile(
            "training UI \\(until training ends\\): (http://\\S+)/train  routing: (http://\\S+)\\R");

    private final Process process;
    private final StringBuffer output = new StringBuffer();

    private LiveTraining(Process process) {
        this.process = process;
        Thread reader = new Thread(() -> copy(process.getInputStream()), "live-training-output");
        reader.setDaemon(true);
        reader.start();
    }

    /** Starts the run in {@code dir}; {@link #url} waits for its UI. */
    static LiveTraining start(Path dir) throws IOException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                .toString(), "-Xmx512m", "-cp", System.getProperty("java.class.path"), MoeExamples.class.getName(),
                "train"));
        command.addAll(TinyRun.arguments(dir));
        command.addAll(List.of("--steps", "" + STEPS, "--minutes", MINUTES));
        return new LiveTraining(new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start());
    }

    private void copy(InputStream in) {
        byte[] buffer = new byte[4096];
        try {
            for (int n; (n = in.read(buffer)) >= 0;) {
                output.append(new String(buffer, 0, n, StandardCharsets.UTF_8));
            }
        } catch (IOException e) {
            // the process was stopped
        }
    }

    /**
     * The UI's address as train printed it ({@code http://127.0.0.1:PORT}), once it has.
     *
     * @throws AssertionError if the run ends or prints nothing of the kind within {@code seconds}
     */
    String url(long seconds) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (System.nanoTime() < deadline) {
            Matcher m = URL.matcher(output);
            if (m.find()) {
                return m.group(1);
            }
            if (!process.isAlive()) {
                throw new AssertionError("train ended (exit " + process.exitValue() + ") before its UI started: "
                        + output);
            }
            Thread.sleep(POLL_MILLIS);
        }
        throw new AssertionError("train printed no UI address in " + seconds + " s: " + output);
    }

    /** Whether the run is still training. */
    boolean isAlive() {
        return process.isAlive();
    }

    /** What train printed so far. */
    String output() {
        return output.toString();
    }

    /** Stops the run (SIGTERM, then SIGKILL if it lingers). */
    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(STOP_SECONDS, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(STOP_SECONDS, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}
