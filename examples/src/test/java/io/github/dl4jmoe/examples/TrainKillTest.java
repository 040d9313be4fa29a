package io.github.dl4jmoe.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import io.github.dl4jmoe.zoo.CharLanguageModel;
import io.github.dl4jmoe.zoo.checkpoint.AtomicFiles;
import io.github.dl4jmoe.zoo.checkpoint.CheckpointFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fault test: {@code train} runs in a child JVM that is killed with SIGKILL ({@link Process#destroyForcibly()})
 * at random moments, some of them while a checkpoint is being written; after each kill the newest checkpoint on disk
 * loads, and the next run resumes from it. A checkpoint every step keeps the child saving most of the time.
 */
class TrainKillTest {

    private static final int KILLS = 10;
    /** Steps of a killed run: more than it ever reaches. */
    private static final int STEPS = 100_000;
    /** Steps the last run trains after the newest checkpoint. */
    private static final int MORE_STEPS = 10;
    private static final String TEXT = "to be or not to be, that is the question. ".repeat(30);

    @Test
    void theNewestCheckpointSurvivesEverySigkillAndResumes(@TempDir Path dir) throws Exception {
        Path text = dir.resolve("text.txt");
        Files.writeString(text, TEXT, StandardCharsets.UTF_8);
        Path out = dir.resolve("lm.zip");
        CheckpointFiles checkpoints = new CheckpointFiles(out);
        Random random = new Random(15);
        int duringSave = 0;
        long newestStep = 0;
        for (int kill = 0; kill < KILLS; kill++) {
            Optional<Path> resume = checkpoints.newest();
            Process child = start(dir, text, out, resume, STEPS);
            // the child has loaded the newest checkpoint and resumes from it (or has started afresh)
            String started = readUntil(child, resume.map(r -> "resumed " + r + " at step ").orElse("MoETransformerLM"));
            resume.ifPresent(r -> assertTrue(started.contains("resumed " + r), started));
            boolean inSave = kill % 2 == 0;
            if (inSave) {
                // one save completes, so that every round makes progress; the next is interrupted
                waitForTemporaryFile(dir, child, true);
                waitForTemporaryFile(dir, child, false);
                waitForTemporaryFile(dir, child, true);
            } else {
                Thread.sleep(300 + random.nextInt(1700));
            }
            boolean tempPresent = hasTemporaryFile(dir);
            child.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
            if (tempPresent && hasTemporaryFile(dir)) {
                duringSave++;
            }
            Optional<Path> newest = checkpoints.newest();
            if (newest.isPresent()) {
                CharLanguageModel model = CharLanguageModel.load(newest.get());   // complete, loadable
                long step = CharLanguageModel.trainingState(newest.get()).orElseThrow().step();
                assertEquals(checkpoints.step(newest.get()), step);
                assertTrue(step >= newestStep, "checkpoints never go back: " + newestStep + " -> " + step);
                assertTrue(model.network().numParams() > 0);
                newestStep = step;
            }
        }
        assertTrue(duringSave >= 2, "kills that interrupted a save: " + duringSave);
        assertTrue(newestStep > 0, "some checkpoint was written");

        // the last run finishes: it resumes once more, removes the leftovers and writes the final model
        Optional<Path> resume = checkpoints.newest();
        Process last = start(dir, text, out, resume, (int) newestStep + MORE_STEPS);
        String log = new String(last.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(last.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, last.exitValue(), log);
        assertEquals(newestStep + MORE_STEPS, CharLanguageModel.trainingState(out).orElseThrow().step());
        assertTrue(checkpoints.list().size() <= 2, checkpoints.list().toString());
        assertTrue(!hasTemporaryFile(dir), "no temporary files after a finished run");
    }

    private static Process start(Path dir, Path text, Path out, Optional<Path> resume, int steps)
            throws IOException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                .toString(), "-Xmx512m", "-cp", System.getProperty("java.class.path"),
                MoeExamples.class.getName(), "train", "--text", text.toString(), "--layers", "1", "--ffn", "peer",
                "--d-model", "8", "--heads", "2", "--context", "8", "--batch-size", "4", "--steps",
                Integer.toString(steps), "--checkpoint-every", "1", "--keep-checkpoints", "2", "--eval-every",
                "1000", "--eval-batches", "1", "--sample-length", "0", "--out", out.toString()));
        resume.ifPresent(r -> command.addAll(List.of("--resume", r.toString())));
        return new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
    }

    /** The child's output up to the first line that starts with {@code prefix}; then drains the rest. */
    private static String readUntil(Process child, String prefix) throws IOException {
        StringBuilder line = new StringBuilder();
        StringBuilder all = new StringBuilder();
        for (int c; (c = child.getInputStream().read()) >= 0;) {
            all.append((char) c);
            if (c == '\n') {
                String l = line.toString();
                if (l.startsWith(prefix)) {
                    // drain the rest so the child never blocks on a full pipe
                    Thread drain = new Thread(() -> {
                        try {
                            child.getInputStream().transferTo(OutputStream.nullOutputStream());
                        } catch (IOException e) {
                            // the child was killed
                        }
                    });
                    drain.setDaemon(true);
                    drain.start();
                    return all.toString();
                }
                line.setLength(0);
            } else {
                line.append((char) c);
            }
        }
        throw new AssertionError("the child ended before training: " + all);
    }

    /** Waits until a temporary file is there ({@code present}) or no longer there. */
    private static void waitForTemporaryFile(Path dir, Process child, boolean present) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline && child.isAlive() && hasTemporaryFile(dir) != present) {
            Thread.onSpinWait();
        }
    }

    private static boolean hasTemporaryFile(Path dir) throws IOException {
        try (var files = Files.list(dir)) {
            return files.anyMatch(p -> p.getFileName().toString().contains(AtomicFiles.TEMP_MARK));
        }
    }
}
