package io.github.dl4jmoe.examples;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.github.dl4jmoe.zoo.FeedForwardKind;
import io.github.dl4jmoe.zoo.MoETransformerLM;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * Every user mistake of the examples program answers with one line on standard error that names the option or file,
 * what was wrong and what to do; exit code 2 for a usage error, 1 for a failure; no stack trace. One test per mistake,
 * each run through {@link MoeExamples#commandLine()} as a user would. Mistakes in training options are found before
 * anything is trained: those runs would need minutes, and a test here takes seconds.
 */
class UserMistakesTest {

    /** 40 distinct characters. */
    private static final String TEXT = "the quick brown fox jumps over the lazy dog. THE FIVE BOXING WIZARDS JUMP!\n";

    @TempDir
    static Path dir;
    /** A char-mlp checkpoint (a MultiLayerNetwork with a DenseFeedForward block), context 8. */
    private static Path denseCheckpoint;
    /** A text file the checkpoint was trained on. */
    private static Path textFile;
    /** A ComputationGraph zip without a vocabulary: a MoETransformerLM saved with ModelSerializer alone. */
    private static Path graphWithoutVocabulary;
    /** A text that is not UTF-8 (Latin-1 "café"). */
    private static Path latin1;

    @BeforeAll
    static void files() throws IOException {
        textFile = dir.resolve("text.txt");
        Files.writeString(textFile, TEXT.repeat(4), StandardCharsets.UTF_8);
        denseCheckpoint = dir.resolve("dense.zip");
        assertEquals(0, MoeExamples.commandLine().execute("char-mlp", "--text", textFile.toString(), "--steps", "0",
                "--batch", "8", "--context", "8", "--d-model", "8", "--d-ff", "16", "--sample-length", "0", "--save",
                denseCheckpoint.toString()));
        graphWithoutVocabulary = dir.resolve("graph.zip");
        ModelSerializer.writeModel(MoETransformerLM.builder().vocabularySize(5).dModel(8).heads(2).layers(1)
                .feedForward(FeedForwardKind.DENSE).build().init(), graphWithoutVocabulary.toFile(), false);
        latin1 = dir.resolve("latin1.txt");
        Files.write(latin1, ("caf\u00e9 " + TEXT).repeat(4).getBytes(StandardCharsets.ISO_8859_1));
    }

    /** Runs the program; asserts the exit code and that standard error is one line, which it returns. */
    private static String run(int exitCode, String... args) {
        StringWriter err = new StringWriter();
        CommandLine cli = MoeExamples.commandLine();
        cli.setErr(new PrintWriter(err, true));
        assertEquals(exitCode, cli.execute(args), err.toString());
        String printed = err.toString();
        assertFalse(printed.contains("\tat "), "no stack trace: " + printed);
        assertTrue(printed.endsWith(System.lineSeparator()) && printed.lines().count() == 1, "one line: " + printed);
        return printed.strip();
    }

    private static void assertLine(int exitCode, String line, String... args) {
        assertEquals(line, run(exitCode, args));
    }

    /** Options of a tiny train run on {@link #textFile} writing to {@code out}, changed by the pairs {@code more}. */
    private static String[] train(Path out, String... more) {
        Map<String, String> options = new LinkedHashMap<>(Map.of("--text", textFile.toString(), "--steps", "1",
                "--layers", "1", "--d-model", "8", "--heads", "2", "--context", "8", "--batch-size", "2",
                "--eval-batches", "1", "--sample-length", "0", "--out", out.toString()));
        for (int i = 0; i < more.length; i += 2) {
            options.put(more[i], more[i + 1]);
        }
        List<String> args = new ArrayList<>(List.of("train"));
        options.forEach((name, value) -> args.addAll(List.of(name, value)));
        return args.toArray(String[]::new);
    }

    // --- files of the wrong kind ---

    @Test
    void generateFromAFileThatIsNotAZip() throws IOException {
        Path passwd = dir.resolve("passwd");
        Files.writeString(passwd, "root:x:0:0:root:/root:/bin/bash\n");
        String line = run(2, "generate", "--model", passwd.toString());
        assertTrue(line.startsWith("dl4j-moe generate: --model: " + passwd + " is not a zip file (")
                && line.endsWith("); pass a model saved by train, e.g. models/char-lm.zip"), line);
    }

    @Test
    void generateFromAMissingFile() {
        Path missing = dir.resolve("missing.zip");
        assertLine(2, "dl4j-moe generate: --model: no file at " + missing.toAbsolutePath() + " (pass a model saved by "
                + "train, e.g. models/char-lm.zip)", "generate", "--model", missing.toString());
    }

    @Test
    void generateFromAModelOfTheWrongKind() {
        assertLine(2, "dl4j-moe generate: --model: " + denseCheckpoint + " holds a MultiLayerNetwork, not a "
                + "ComputationGraph (pass a model saved by train, e.g. models/char-lm.zip)", "generate", "--model",
                denseCheckpoint.toString());
    }

    @Test
    void generateFromAGraphWithoutVocabulary() {
        String line = run(2, "generate", "--model", graphWithoutVocabulary.toString());
        assertTrue(line.startsWith("dl4j-moe generate: --model: " + graphWithoutVocabulary + " is a DL4J "
                + "ComputationGraph but not a character model (") && line.contains("vocabulary")
                && line.endsWith("); pass a model saved by train, e.g. models/char-lm.zip"), line);
    }

    @Test
    void upcycleAGraphInsteadOfADenseCheckpoint() {
        assertLine(2, "dl4j-moe upcycle: --dense: " + graphWithoutVocabulary + " holds a ComputationGraph, not a "
                + "MultiLayerNetwork (pass a dense checkpoint written by char-mlp --save)", "upcycle", "--dense",
                graphWithoutVocabulary.toString(), "--out", dir.resolve("up.zip").toString());
    }

    @Test
    void resumeFromAFileThatIsNotAModel() throws IOException {
        Path notZip = dir.resolve("notes.zip");
        Files.writeString(notZip, "not a zip");
        String line = run(2, train(dir.resolve("r.zip"), "--resume", notZip.toString()));
        assertTrue(line.startsWith("dl4j-moe train: --resume: " + notZip + " is not a zip file"), line);
    }

    // --- text that is not UTF-8: one message from every reader ---

    @Test
    void trainOnTextThatIsNotUtf8() {
        assertLine(2, "dl4j-moe train: --text: " + latin1 + " is not UTF-8 text: byte 0xE9 at offset 3 (convert it to "
                + "UTF-8, e.g. iconv -f latin1 -t utf-8)", "train", "--text", latin1.toString(), "--steps", "1");
    }

    @Test
    void statsOnTextThatIsNotUtf8() {
        assertLine(2, "dl4j-moe stats: --text: " + latin1 + " is not UTF-8 text: byte 0xE9 at offset 3 (convert it to "
                + "UTF-8, e.g. iconv -f latin1 -t utf-8)", "stats", "--text", latin1.toString(), "--out",
                dir.resolve("stats").toString());
    }

    @Test
    void charMlpOnTextThatIsNotUtf8() {
        assertLine(2, "dl4j-moe char-mlp: --text: " + latin1 + " is not UTF-8 text: byte 0xE9 at offset 3 (convert it "
                + "to UTF-8, e.g. iconv -f latin1 -t utf-8)", "char-mlp", "--text", latin1.toString());
    }

    // --- text too short ---

    @Test
    void charMlpOnATextTooShortForItsWindows() throws IOException {
        Path shortText = dir.resolve("short.txt");
        Files.writeString(shortText, "to be or not to be, that is it");
        assertLine(2, "dl4j-moe char-mlp: --text: " + shortText + " has 30 characters, too few for windows of 8 "
                + "characters: need at least 81 (pass a longer text, or use a shorter context)", "char-mlp", "--text",
                shortText.toString(), "--context", "8");
    }

    @Test
    void upcycleOnATextTooShortForTheCheckpointsWindows() throws IOException {
        Path shortText = dir.resolve("short-same-characters.txt");
        Files.writeString(shortText, TEXT);
        assertLine(2, "dl4j-moe upcycle: --text: " + shortText + " has " + TEXT.length() + " characters, too few for "
                + "windows of 8 characters: need at least " + CharWindows.minimumLength(8) + " (pass a longer text, or "
                + "use a shorter context)", "upcycle", "--dense", denseCheckpoint.toString(), "--text",
                shortText.toString(), "--out", dir.resolve("up.zip").toString());
        assertTrue(TEXT.length() < CharWindows.minimumLength(8));
    }

    @Test
    void upcycleOnADifferentText() {
        assertLine(2, "dl4j-moe upcycle: --text: the bundled text has 65 distinct characters, but --dense "
                + denseCheckpoint + " predicts " + CharWindows.distinctCharacters(TEXT) + " (pass the text the "
                + "checkpoint was trained on)", "upcycle", "--dense", denseCheckpoint.toString(), "--out",
                dir.resolve("up.zip").toString());
    }

    // --- option values, all found before training ---

    @Test
    void anOddWidthForFinerMoe() {
        Path out = dir.resolve("finer.zip");
        String line = run(2, train(out, "--ffn", "finer_moe", "--d-model", "9", "--heads", "3"));
        assertTrue(line.startsWith("dl4j-moe train: --ffn finer_moe does not fit --d-model 9: FineRMoeLayer")
                && line.endsWith("(try --d-model 12)"), line);
        assertFalse(Files.exists(out));
    }

    @Test
    void upcycleWithAGranularityThatDoesNotDivideTheHiddenWidth() {
        assertLine(2, "dl4j-moe upcycle: --input-granularity must divide the hidden width 16 of block 1 of --dense "
                + denseCheckpoint + ", got 5 (try 4)", "upcycle", "--dense", denseCheckpoint.toString(), "--text",
                textFile.toString(), "--input-granularity", "5", "--out", dir.resolve("up.zip").toString());
        assertLine(2, "dl4j-moe upcycle: --output-granularity must be at least 1, got 0", "upcycle", "--dense",
                denseCheckpoint.toString(), "--output-granularity", "0", "--out", dir.resolve("up.zip").toString());
    }

    @Test
    void upcycleWhereTheModeRejectsTheRouting() {
        String line = run(2, "upcycle", "--dense", denseCheckpoint.toString(), "--text", textFile.toString(),
                "--top-input", "2", "--out", dir.resolve("up.zip").toString());
        assertTrue(line.startsWith("dl4j-moe upcycle: --mode PRESERVING: "), line);
    }

    @Test
    void aLearningRateThatIsNaNOrNegative() {
        Path out = dir.resolve("lr.zip");
        assertLine(2, "dl4j-moe train: --lr must be a positive number, got NaN (the default is 0.002)",
                train(out, "--lr", "NaN"));
        assertLine(2, "dl4j-moe train: --lr must be a positive number, got -0.01 (the default is 0.002)",
                train(out, "--lr", "-1e-2"));
        assertLine(2, "dl4j-moe upcycle: --lr must be a positive number, got -1.0 (try 1e-3, or leave it out to keep "
                + "the checkpoint's)", "upcycle", "--dense", denseCheckpoint.toString(), "--lr", "-1", "--out",
                dir.resolve("up.zip").toString());
        assertLine(2, "dl4j-moe harder-tasks: --lr must be a positive number, got NaN (try 3e-3)", "harder-tasks",
                "--lr", "NaN");
        assertFalse(Files.exists(out));
    }

    @Test
    void aTemperatureAtOrBelowZeroBeforeTraining() {
        Path out = dir.resolve("temperature.zip");
        assertLine(2, "dl4j-moe train: --temperature must be a positive number, got 0.0 (try 0.8)",
                train(out, "--temperature", "0"));
        assertFalse(Files.exists(out), "rejected before training and saving");
        assertLine(2, "dl4j-moe generate: --temperature must be a positive number, got -1.0 (try 0.8)", "generate",
                "--temperature", "-1");
    }

    @Test
    void benchWithZeroSteps() {
        assertLine(2, "dl4j-moe bench moe: --steps must be at least 1, got 0 (the times are means over the steps; "
                + "try 10)", "bench", "moe", "--steps", "0");
        assertLine(2, "dl4j-moe bench peer: --steps must be at least 1, got 0 (the throughput is a mean over the "
                + "steps; try 10)", "bench", "peer", "--steps", "0");
        assertLine(2, "dl4j-moe bench soak: --at must be at least 1 and below --steps, got --at 500 and --steps 0",
                "bench", "soak", "--steps", "0");
    }

    @Test
    void benchPeerWithExpertsThatAreNotASquare() {
        String line = run(2, "bench", "peer", "--experts", "1000");
        assertTrue(line.startsWith("dl4j-moe bench peer: --experts 1000, --heads 8, --topk 16, --dkey 128: PeerLayer")
                && line.contains("961 or 1024"), line);
    }

    @Test
    void aBatchSizeOfZeroNamesTheFlag() {
        assertLine(2, "dl4j-moe train: --batch-size must be at least 1, got 0 (try 32)",
                train(dir.resolve("b.zip"), "--batch-size", "0"));
        assertLine(2, "dl4j-moe stats: --batch-size must be at least 1, got 0 (try 32)", "stats", "--batch-size", "0");
        assertLine(2, "dl4j-moe char-mlp: --batch must be at least 1, got 0 (try 128)", "char-mlp", "--batch", "0");
        assertLine(2, "dl4j-moe bench soak: --batch-size must be at least 1, got 0 (try 32)", "bench", "soak",
                "--batch-size", "0");
    }

    @Test
    void trainUiOptionsWithoutUi() {
        for (String[] option : new String[][]{{"--ui-port", "9001"}, {"--ui-host", "0.0.0.0"},
            {"--ui-file", dir.resolve("run.dl4j").toString()}}) {
            assertLine(2, "dl4j-moe train: --ui-port, --ui-host and --ui-file configure --ui; add --ui",
                    train(dir.resolve("ui.zip"), option));
        }
    }

    @Test
    void trainUiOnAPortOutOfRange() {
        assertLine(2, "dl4j-moe train: --ui-port must be 0 to 65535, got 70000 (try 9000, or 0 for any free port)",
                add(train(dir.resolve("ui.zip"), "--ui-port", "70000"), "--ui"));
    }

    @Test
    void trainUiOnAPortInUse() throws IOException {
        try (java.net.ServerSocket taken = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            int port = taken.getLocalPort();
            String line = run(2, add(train(dir.resolve("ui.zip"), "--ui-port", "" + port), "--ui"));
            assertTrue(line.startsWith("dl4j-moe train: --ui-port " + port + " / --ui-host 127.0.0.1: cannot listen "
                    + "on 127.0.0.1:" + port + " (") && line.endsWith(") (try another --ui-port, or --ui-port 0 for "
                    + "any free one)"), line);
        }
    }

    @Test
    void uiOnAFileThatIsNotAStatisticsFile() throws IOException {
        byte[] before = Files.readAllBytes(textFile);
        String line = run(2, "ui", "--file", textFile.toString(), "--port", "0");
        assertTrue(line.startsWith("dl4j-moe ui: --file: " + textFile + " is not a statistics file written by train "
                + "--ui-file ("), line);
        assertArrayEquals(before, Files.readAllBytes(textFile), "the file is left as it was");
    }

    private static String[] add(String[] args, String... more) {
        List<String> all = new ArrayList<>(List.of(args));
        all.addAll(List.of(more));
        return all.toArray(String[]::new);
    }

    // --- other mistakes ---

    @Test
    void anOutputThatIsADirectory() {
        assertLine(2, "dl4j-moe train: --out: " + dir + " is a directory; name a file in it, e.g. "
                + dir.resolve("model.zip"), train(dir));
    }

    @Test
    void aPromptWithCharactersTheModelDoesNotKnow() {
        assertLine(2, "dl4j-moe generate: --prompt: the model does not know the character '\u00e9' (U+00E9); use "
                + "characters of the text it was trained on", "generate", "--prompt", "caf\u00e9");
    }

    @Test
    void aMistypedOptionSuggestsTheRightOne() {
        assertLine(2, "dl4j-moe train: Unknown option: '--step' (did you mean --steps? dl4j-moe train --help lists "
                + "the options)", "train", "--step");
    }

    @Test
    void aValueOfTheWrongTypePointsToHelp() {
        assertLine(2, "dl4j-moe train: Invalid value for option '--steps': 'many' is not an int (dl4j-moe train --help "
                + "lists the options)", "train", "--steps", "many");
    }

    @Test
    void verboseShowsTheStackTrace() {
        StringWriter err = new StringWriter();
        CommandLine cli = MoeExamples.commandLine();
        cli.setErr(new PrintWriter(err, true));
        assertEquals(2, cli.execute("bench", "moe", "--steps", "0", "--verbose"));
        assertTrue(err.toString().contains("\tat ") && err.toString().strip().endsWith("(the times are means over "
                + "the steps; try 10)"), err.toString());
    }

    /** The program as users start it, in a JVM of its own: ND4J's startup banner would come before the line. */
    @Test
    void theProgramPrintsTheLineAloneWithoutNd4jsStartupMessages() throws IOException, InterruptedException {
        Path passwd = dir.resolve("passwd");
        Files.writeString(passwd, "root:x:0:0:root:/root:/bin/bash\n");
        Process program = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), MoeExamples.class.getName(), "generate", "--model",
                passwd.toString()).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        String err = new String(program.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(2, program.waitFor(), err);
        assertEquals(1, err.lines().count(), "one line: " + err);
        assertTrue(err.startsWith("dl4j-moe generate: --model: " + passwd + " is not a zip file ("), err);
    }
}
