package io.github.dl4jmoe.spark;

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
import java.util.List;

import io.github.dl4jmoe.zoo.CharLanguageModel;
import io.github.dl4jmoe.zoo.data.CharacterIterator;
import io.github.dl4jmoe.zoo.data.CharacterIterator.Split;
import org.deeplearning4j.datasets.iterator.EarlyTerminationDataSetIterator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** Each run starts and stops a Spark context of its own, as spark-submit would. */
class SparkTrainProgramTest {

    private static final String TEXT = TinyLm.text(6);

    /** Options of a tiny run on {@link #TEXT}, written to {@code dir}, followed by {@code more}. */
    private static String[] tiny(Path dir, String... more) throws IOException {
        Path text = dir.resolve("text.txt");
        Files.writeString(text, TEXT, StandardCharsets.UTF_8);
        return onText(text.toString(), dir, more);
    }

    private static String[] onText(String text, Path dir, String... more) {
        String[] base = {"--master", "local[2]", "--text", text, "--layers", "2", "--ffn", "moe_topp,peer",
                "--d-model", "16", "--heads", "2", "--context", "8", "--lr", "1e-2", "--batch-size", "8",
                "--averaging-frequency", "2", "--eval-batches", "2", "--out", dir.resolve("out/lm.zip").toString()};
        String[] all = new String[base.length + more.length];
        System.arraycopy(base, 0, all, 0, base.length);
        System.arraycopy(more, 0, all, base.length, more.length);
        return all;
    }

    @Test
    void trainsCheckpointsEvaluatesAndGathersRoutingStatistics(@TempDir Path dir) throws IOException {
        SparkTrainProgram program = new SparkTrainProgram();
        new CommandLine(program).setCaseInsensitiveEnumValuesAllowed(true).parseArgs(tiny(dir, "--epochs", "2"));
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        SparkTrainProgram.Result r = program.run(new PrintStream(log, true, StandardCharsets.UTF_8));

        String printed = log.toString(StandardCharsets.UTF_8);
        assertEquals(2, r.epochLosses().size());
        assertTrue(r.epochLosses().get(1) < r.epochLosses().get(0), "training loss per epoch " + r.epochLosses());
        assertTrue(printed.contains("epoch 1/2: training loss") && printed.contains("epoch 2/2: training loss"),
                printed);
        // 702 training characters: 88 windows; 2 rounds of 2 workers x 8 windows x 2 minibatches fit 64 of them
        int trainCharacters = (int) Math.round(TEXT.length() * (1 - CharacterIterator.DEFAULT_VALIDATION_FRACTION));
        assertEquals(88, (trainCharacters - 2) / 8 + 1);
        assertTrue(r.tokens() <= 2 * 64 * 8 && r.tokens() >= 2 * (63 * 8 + 5), "characters predicted in 2 epochs: "
                + r.tokens());
        assertTrue(printed.contains("2 rounds per epoch fit 64 of the 88 training windows"), printed);
        assertEquals(TEXT.length() - trainCharacters - 1, r.routing().get(TinyLm.TOP_P_LAYER).tokens(),
                "routing over the whole validation split: " + r.routing());
        assertTrue(printed.contains(TinyLm.TOP_P_LAYER + ": "), printed);

        Path saved = dir.resolve("out/lm.zip");
        assertTrue(Files.isRegularFile(saved));
        CharLanguageModel model = CharLanguageModel.load(saved);
        assertEquals(8, model.contextLength());
        CharacterIterator validation = CharacterIterator.builder().text(TEXT).vocabulary(model.vocabulary())
                .sequenceLength(8).batchSize(8).split(Split.VALIDATION).shuffle(false).build();
        assertEquals(r.validationLoss(), model.validationLoss(new EarlyTerminationDataSetIterator(validation, 2)),
                1e-6, "the saved model is the trained one");
        assertTrue(r.validationLoss() < Math.log(model.vocabulary().size()), "validation loss " + r.validationLoss());
    }

    @Test
    void aDivergedRunStopsSayingAtWhichEpochAndLeavesTheModelAtOutUntouched(@TempDir Path dir) throws IOException {
        Path out = Files.createDirectories(dir.resolve("out")).resolve("lm.zip");
        Files.writeString(out, "the model of an earlier run");
        String[] args = tiny(dir, "--epochs", "2");
        // a huge learning rate: the parameters the first epoch leaves are no longer finite
        args[List.of(args).indexOf("--lr") + 1] = "1e30";
        assertMistake(1, "spark-train: training diverged at epoch 1: ", args);
        assertEquals("the model of an earlier run", Files.readString(out));
    }

    @Test
    void optionsOutOfRangeAreUsageErrors() {
        assertMistake(2, "spark-train: --batch-size must be at least 1, got 0", "--batch-size", "0");
        assertMistake(2, "spark-train: --averaging-frequency must be at least 1, got -3", "--averaging-frequency",
                "-3");
        assertMistake(2, "spark-train: --epochs must be at least 1, got 0", "--epochs", "0");
        assertMistake(2, "spark-train: Unknown options: '--steps', '3' (spark-train --help lists the options)",
                "--steps", "3");
    }

    @Test
    void aMissingTextIsAUsageError(@TempDir Path dir) {
        String missing = dir.resolve("missing.txt").toString();
        assertMistake(2, "spark-train: --text: " + missing + ": no such file on file:///", "--master", "local[2]",
                "--text", missing);
    }

    @Test
    void aTextThatIsNotUtf8IsAUsageErrorAsInTheExamples(@TempDir Path dir) throws IOException {
        Path latin1 = dir.resolve("latin1.txt");
        Files.write(latin1, "caf\u00e9 au lait".getBytes(StandardCharsets.ISO_8859_1));
        assertMistake(2, "spark-train: --text: " + latin1 + " is not UTF-8 text: byte 0xE9 at offset 3 (convert it to "
                + "UTF-8, e.g. iconv -f latin1 -t utf-8)", "--master", "local[2]", "--text", latin1.toString());
    }

    @Test
    void aLearningRateThatIsNotAPositiveNumberIsRejectedBeforeSparkStarts() {
        assertMistake(2, "spark-train: --lr must be a positive number, got NaN (the default is 0.002)", "--lr", "NaN");
        assertMistake(2, "spark-train: --lr must be a positive number, got -0.01 (the default is 0.002)", "--lr",
                "-1e-2");
    }

    @Test
    void anOddWidthForFinerMoeIsRejectedBeforeSparkStarts() {
        assertMistake(2, "spark-train: --ffn finer_moe does not fit --d-model 31: ", "--ffn", "finer_moe", "--d-model",
                "31", "--heads", "1");
    }

    /** Runs spark-train; asserts the exit code and one line on standard error that starts with {@code message}. */
    private static void assertMistake(int exitCode, String message, String... args) {
        StringWriter err = new StringWriter();
        CommandLine cli = SparkTrainProgram.commandLine();
        cli.setErr(new PrintWriter(err, true));
        assertEquals(exitCode, cli.execute(args), err.toString());
        assertTrue(err.toString().startsWith(message), err.toString());
        assertEquals(1, err.toString().lines().count(), "one line: " + err);
    }
}
