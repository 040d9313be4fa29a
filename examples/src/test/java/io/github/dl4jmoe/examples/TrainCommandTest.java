package io.github.dl4jmoe.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import io.github.dl4jmoe.zoo.CharLanguageModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class TrainCommandTest {

    private static final String TEXT = "to be or not to be, that is the question. ".repeat(30);

    private static String[] tiny(Path dir, String... more) throws IOException {
        Path text = dir.resolve("text.txt");
        Files.writeString(text, TEXT, StandardCharsets.UTF_8);
        String[] base = {"--text", text.toString(), "--layers", "2", "--ffn", "moe_topp,peer", "--d-model", "8",
                "--heads", "2", "--context", "8", "--batch-size", "8", "--eval-batches", "2",
                "--out", dir.resolve("lm.zip").toString()};
        String[] all = new String[base.length + more.length];
        System.arraycopy(base, 0, all, 0, base.length);
        System.arraycopy(more, 0, all, base.length, more.length);
        return all;
    }

    @Test
    void trainsEvaluatesCheckpointsAndSamples(@TempDir Path dir) throws IOException {
        TrainCommand train = new TrainCommand();
        new CommandLine(train).setCaseInsensitiveEnumValuesAllowed(true)
                .parseArgs(tiny(dir, "--steps", "12", "--eval-every", "5", "--sample-length", "15", "--prompt", "to "));
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        TrainCommand.Result r = train.run(new PrintStream(log, true, StandardCharsets.UTF_8));

        assertEquals(12, r.steps());
        assertTrue(r.tokens() > 12L * 8 * 7 && r.tokens() <= 12L * 8 * 8, "tokens " + r.tokens());
        assertTrue(r.lastLoss() < r.firstLoss(), r.firstLoss() + " -> " + r.lastLoss());
        assertTrue(r.validationLoss() > 0 && r.validationLoss() < Math.log(16), "validation " + r.validationLoss());
        assertEquals(18, r.sample().length());
        String printed = log.toString(StandardCharsets.UTF_8);
        assertTrue(printed.contains("step 5: validation loss") && printed.contains("step 10: validation loss"),
                printed);
        assertTrue(printed.contains("experts/token"), "routing summary of the top-p block: " + printed);

        CharLanguageModel saved = CharLanguageModel.load(r.model());
        assertEquals(8, saved.contextLength());
        assertEquals(r.validationLoss(), saved.validationLoss(
                io.github.dl4jmoe.zoo.data.CharacterIterator.builder().text(TEXT).vocabulary(saved.vocabulary())
                        .sequenceLength(8).batchSize(8)
                        .split(io.github.dl4jmoe.zoo.data.CharacterIterator.Split.VALIDATION)
                        .shuffle(false).seed(42).build()), 1e-5, "validation loss of the saved model");
    }

    @Test
    void trainsOnTwoWorkersWithParallelWrapper(@TempDir Path dir) throws IOException {
        TrainCommand train = new TrainCommand();
        new CommandLine(train).setCaseInsensitiveEnumValuesAllowed(true).parseArgs(tiny(dir, "--steps", "24",
                "--workers", "2", "--averaging-frequency", "3", "--eval-every", "12", "--sample-length", "0"));
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        TrainCommand.Result r = train.run(new PrintStream(log, true, StandardCharsets.UTF_8));

        assertEquals(24, r.steps(), "four averaging rounds of 2 workers x 3 minibatches");
        assertTrue(r.tokens() > 24L * 8 * 7, "tokens " + r.tokens());
        assertTrue(r.lastLoss() < r.firstLoss(), "averaged loss after round 1 -> round 4: " + r.firstLoss() + " -> "
                + r.lastLoss());
        assertTrue(r.validationLoss() < Math.log(16), "validation " + r.validationLoss());
        assertTrue(log.toString(StandardCharsets.UTF_8).contains("step 12: validation loss"), log.toString());
        CharLanguageModel saved = CharLanguageModel.load(r.model());
        assertEquals(r.validationLoss(), saved.validationLoss(io.github.dl4jmoe.zoo.data.CharacterIterator.builder()
                .text(TEXT).vocabulary(saved.vocabulary()).sequenceLength(8).batchSize(8)
                .split(io.github.dl4jmoe.zoo.data.CharacterIterator.Split.VALIDATION).shuffle(false).seed(42).build()),
                1e-5, "the saved model is the averaged one");
    }

    @Test
    void resumesASavedModelAndGeneratesFromIt(@TempDir Path dir) throws IOException {
        assertEquals(0, MoeExamples.commandLine().execute(prepend("train", tiny(dir, "--steps", "2",
                "--sample-length", "0"))));
        // --steps counts the whole run, and the output must not be the input
        Path model = dir.resolve("more.zip");
        assertEquals(0, MoeExamples.commandLine().execute("train", "--text", dir.resolve("text.txt").toString(),
                "--steps", "3", "--resume", dir.resolve("lm.zip").toString(), "--sample-length", "0",
                "--eval-batches", "2", "--out", model.toString()));

        GenerateCommand generate = new GenerateCommand();
        new CommandLine(generate).parseArgs("--model", model.toString(), "--prompt", "to be", "--length", "7",
                "--seed", "3");
        String text = generate.run();
        assertTrue(text.startsWith("to be") && text.length() == 12, text);
        assertEquals(text, generate.run(), "the same seed gives the same text");
    }

    @Test
    void userMistakesPrintAMessageAndExitWithTwo(@TempDir Path dir) throws IOException {
        StringWriter err = new StringWriter();
        CommandLine cli = MoeExamples.commandLine();
        cli.getSubcommands().values().forEach(c -> c.setErr(new PrintWriter(err)));
        assertEquals(2, cli.execute(prepend("train", tiny(dir, "--ffn", "dense,peer,dense"))));
        // the option accumulates
        assertTrue(err.toString().contains("train: --ffn names 5 kinds for 2 layers"), err.toString());
        assertEquals(2, cli.execute("generate", "--model", dir.resolve("missing.zip").toString()));
        assertTrue(err.toString().contains("missing.zip"), err.toString());
        assertEquals(2, cli.execute(prepend("train", tiny(dir, "--workers", "0"))));
        assertTrue(err.toString().contains("train: --workers must be at least 1, got 0"), err.toString());
        assertEquals(2, cli.execute("train", "--ffn", "sparse"), "an unknown kind is a usage error");
    }

    private static String[] prepend(String first, String[] rest) {
        String[] all = new String[rest.length + 1];
        all[0] = first;
        System.arraycopy(rest, 0, all, 1, rest.length);
        return all;
    }
}
