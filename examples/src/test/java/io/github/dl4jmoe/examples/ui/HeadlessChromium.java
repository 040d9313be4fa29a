package io.github.dl4jmoe.examples.ui;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Debian's headless Chromium ({@code apt-get install chromium}), run once per page with a new empty profile and
 * nothing that reaches the network on its own.
 */
final class HeadlessChromium {

    static final Path BINARY = Path.of("/usr/bin/chromium");
    /** Virtual time the page gets to fetch its data and draw before the DOM is taken. */
    private static final int VIRTUAL_TIME_BUDGET_MS = 15_000;
    /**
     * Real time after which Chromium stops loading and dumps what it has: a request that never ends (DL4J's asset
     * route does not answer a missing file) would otherwise hold virtual time, and Chromium, forever.
     */
    private static final int STOP_AFTER_MS = 30_000;
    private static final long TIMEOUT_SECONDS = 90;

    private HeadlessChromium() {
    }

    static boolean installed() {
        return Files.isExecutable(BINARY);
    }

    /** The page's DOM after its scripts ran, as Chromium serializes it. */
    static String dumpDom(String url, Path profileParent) throws IOException, InterruptedException {
        return run(profileParent, List.of("--dump-dom", url));
    }

    private static String run(Path profileParent, List<String> what) throws IOException, InterruptedException {
        Path profile = Files.createTempDirectory(profileParent, "chromium-profile");
        List<String> command = new ArrayList<>(List.of(BINARY.toString(), "--headless", "--no-sandbox",
                "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--user-data-dir=" + profile,
                "--virtual-time-budget=" + VIRTUAL_TIME_BUDGET_MS, "--timeout=" + STOP_AFTER_MS));
        command.addAll(what);
        Path out = profileParent.resolve("chromium-" + System.nanoTime() + ".out");
        Path err = profileParent.resolve("chromium-" + System.nanoTime() + ".err");
        Process p = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("chromium did not finish in " + TIMEOUT_SECONDS + " s: " + command);
        }
        String stdout = Files.readString(out, StandardCharsets.UTF_8);
        if (p.exitValue() != 0) {
            throw new IOException("chromium exited with " + p.exitValue() + ": "
                    + Files.readString(err, StandardCharsets.UTF_8));
        }
        return stdout;
    }
}
