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
import java.util.List;
import java.util.Map;

import io.github.dl4jmoe.runtime.ModelLayers;
import io.github.dl4jmoe.runtime.MoeLayerRuntime;
import io.github.dl4jmoe.zoo.CharLanguageModel;
import io.github.dl4jmoe.zoo.checkpoint.CheckpointFiles;
import io.github.dl4jmoe.zoo.checkpoint.TrainingState;
import org.deeplearning4j.nn.api.Layer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import picocli.CommandLine;

/** Checkpoints of {@code train}: names and pruning, exact resume, contradicting flags, and the stop on divergence. */
class TrainResumeTest {

    private static final String TEXT = "to be or not to be, that is the question. ".repeat(30);

    /** A tiny run with PEER (sparse Adam moments) whose 8 steps cross an epoch of the training split (5 steps). */
    private static String[] tiny(Path dir, String... more) throws IOException {
        Path text = dir.resolve("text.txt");
        Files.writeString(text, TEXT, StandardCharsets.UTF_8);
        String[] base = {"train", "--text", text.toString(), "--layers", "2", "--ffn", "moe_topp,peer", "--d-model",
                "8", "--heads", "2", "--context", "8", "--batch-size", "32", "--eval-batches", "1",
                "--sample-length", "0"};
        String[] all = new String[base.length + more.length];
        System.arraycopy(base, 0, all, 0, base.length);
        System.arraycopy(more, 0, all, base.length, more.length);
        return all;
    }

    private static int train(StringWriter err, String... args) {
        CommandLine cli = MoeExamples.commandLine();
        cli.getSubcommands().values().forEach(c -> c.setErr(new PrintWriter(err, true)));
        return cli.execute(args);
    }

    @Test
    void resumingAfterNStepsTrainsExactlyWhatTwoNStepsStraightDo(@TempDir Path dir) throws IOException {
        StringWriter err = new StringWriter();
        Path straight = dir.resolve("straight.zip");
        Path half = dir.resolve("half.zip");
        Path resumed = dir.resolve("resumed.zip");
        assertEquals(0, train(err, tiny(dir, "--steps", "8", "--out", straight.toString())), err.toString());
        assertEquals(0, train(err, tiny(dir, "--steps", "4", "--out", half.toString())), err.toString());
        // the model options come from the checkpoint: none are repeated, the ones repeated agree
        assertEquals(0, train(err, "train", "--text", dir.resolve("text.txt").toString(), "--steps", "8",
                "--context", "8", "--eval-batches", "1", "--sample-length", "0", "--resume", half.toString(),
                "--out", resumed.toString()), err.toString());

        CharLanguageModel a = CharLanguageModel.load(straight);
        CharLanguageModel b = CharLanguageModel.load(resumed);
        assertEquals(8, CharLanguageModel.trainingState(resumed).orElseThrow().step());
        assertEquals(CharLanguageModel.trainingState(straight).orElseThrow().data(),
                CharLanguageModel.trainingState(resumed).orElseThrow().data(), "the data position");
        // float: bit-identical, every operation is repeated on the same values in the same order
        assertArrayEquals(a.network().params().toFloatVector(), b.network().params().toFloatVector(), 0f,
                "parameters");
        assertArrayEquals(a.network().getUpdater().getStateViewArray().toFloatVector(),
                b.network().getUpdater().getStateViewArray().toFloatVector(), 0f, "DL4J's Adam state");
        Map<String, INDArray> moments = peerMoments(a);
        assertEquals(4, moments.size(), "PEER's sparse moments of both tables: " + moments.keySet());
        moments.forEach((key, m) -> assertArrayEquals(m.ravel().toFloatVector(),
                peerMoments(b).get(key).ravel().toFloatVector(), 0f, "PEER moment " + key));
        assertEquals(a.network().getIterationCount(), b.network().getIterationCount());
    }

    private static Map<String, INDArray> peerMoments(CharLanguageModel model) {
        for (Layer layer : ModelLayers.of(model.network())) {
            if (layer instanceof MoeLayerRuntime runtime && !runtime.hostTrainingState().isEmpty()) {
                return runtime.hostTrainingState();
            }
        }
        return Map.of();
    }

    @Test
    void checkpointsEveryNStepsKeepTheNewestAndTheFinalModelApart(@TempDir Path dir) throws IOException {
        StringWriter err = new StringWriter();
        Path out = dir.resolve("lm.zip");
        assertEquals(0, train(err, tiny(dir, "--steps", "9", "--checkpoint-every", "2", "--keep-checkpoints", "3",
                "--out", out.toString())), err.toString());
        CheckpointFiles checkpoints = new CheckpointFiles(out);
        assertEquals(List.of(dir.resolve("lm-step000004.zip"), dir.resolve("lm-step000006.zip"),
                dir.resolve("lm-step000008.zip")), checkpoints.list());
        assertEquals(6, CharLanguageModel.trainingState(checkpoints.list().get(1)).orElseThrow().step());
        assertEquals(9, CharLanguageModel.trainingState(out).orElseThrow().step());
        try (var files = Files.list(dir)) {
            assertEquals(List.of(), files.filter(p -> p.getFileName().toString().startsWith(".")).toList(),
                    "no temporary files left");
        }
    }

    @Test
    void aFlagThatContradictsTheCheckpointIsRefusedNamingBothValues(@TempDir Path dir) throws IOException {
        StringWriter err = new StringWriter();
        Path out = dir.resolve("lm.zip");
        assertEquals(0, train(err, tiny(dir, "--steps", "2", "--out", out.toString())), err.toString());
        String text = dir.resolve("text.txt").toString();
        String more = dir.resolve("more.zip").toString();
        assertUsageError("train: --context 16 contradicts " + out + ", which was trained with --context 8 (leave "
                + "--context out to resume, or start a new run)", "train", "--text", text, "--steps", "4", "--resume",
                out.toString(), "--out", more, "--context", "16");
        assertUsageError("train: --ffn DENSE contradicts " + out + ", which was trained with --ffn MOE_TOPP,PEER "
                + "(leave --ffn out to resume, or start a new run)", "train", "--text", text, "--steps", "4",
                "--resume", out.toString(), "--out", more, "--ffn", "dense");
        assertFalse(Files.exists(dir.resolve("more.zip")));
    }

    @Test
    void resumingARunThatReachedStepsOrAFileWithoutTrainingStateIsAUsageError(@TempDir Path dir) throws IOException {
        StringWriter err = new StringWriter();
        Path out = dir.resolve("lm.zip");
        assertEquals(0, train(err, tiny(dir, "--steps", "2", "--out", out.toString())), err.toString());
        String text = dir.resolve("text.txt").toString();
        String more = dir.resolve("more.zip").toString();
        assertUsageError("train: --steps 2: " + out + " is already at step 2 (--steps counts the whole run; give more "
                + "to train further)", "train", "--text", text, "--steps", "2", "--resume", out.toString(), "--out",
                more);
        Path stateless = dir.resolve("stateless.zip");
        CharLanguageModel.load(out).save(stateless, true);
        assertUsageError("train: --resume: " + stateless + " holds no training state (it was not saved by this version "
                + "of train); train a new model, or load it in your own program", "train", "--text", text, "--steps",
                "4", "--resume", stateless.toString(), "--out", more);
        assertFalse(Files.exists(dir.resolve("more.zip")));
    }

    /**
     * Runs train; asserts exit code 2 (a usage error found before training) and the one line on standard error,
     * {@code "dl4j-moe " + line}.
     */
    private static void assertUsageError(String line, String... args) {
        StringWriter err = new StringWriter();
        assertEquals(2, train(err, args), err.toString());
        assertEquals("dl4j-moe " + line + System.lineSeparator(), err.toString());
    }

    @Test
    void anOutputThatIsAnInputIsRefusedBeforeAnyWork(@TempDir Path dir) throws IOException {
        StringWriter err = new StringWriter();
        Path out = dir.resolve("lm.zip");
        assertEquals(0, train(err, tiny(dir, "--steps", "2", "--out", out.toString())), err.toString());
        byte[] before = Files.readAllBytes(out);
        assertUsageError("train: --out " + out + " is also --resume; writing it would replace the input (give --out "
                + "another file)", tiny(dir, "--steps", "4", "--resume", out.toString(), "--out", out.toString()));
        Path text = dir.resolve("text.txt");
        assertUsageError("train: --out " + text + " is also --text; writing it would replace the input (give --out "
                + "another file)", tiny(dir, "--steps", "4", "--out", text.toString()));
        assertArrayEquals(before, Files.readAllBytes(out));
        assertEquals(TEXT, Files.readString(dir.resolve("text.txt")));
    }

    @Test
    void aDivergedRunStopsSayingWhereAndLeavesTheLastGoodFilesUntouched(@TempDir Path dir) throws IOException {
        StringWriter err = new StringWriter();
        Path out = dir.resolve("lm.zip");
        assertEquals(0, train(err, tiny(dir, "--steps", "2", "--out", out.toString())), err.toString());
        byte[] before = Files.readAllBytes(out);

        // a huge learning rate: the first step's loss is finite, the parameters it leaves are not usable
        assertEquals(1, train(err, tiny(dir, "--steps", "6", "--lr", "1e30", "--checkpoint-every", "1", "--out",
                out.toString())));
        String message = err.toString();
        assertTrue(message.contains("train: training diverged at step "), message);
        assertFalse(message.contains("\tat "), "one line, no stack trace: " + message);
        assertArrayEquals(before, Files.readAllBytes(out), "the final model of the earlier run is untouched");
        List<Path> saved = new CheckpointFiles(out).list();
        int stoppedAt = Integer.parseInt(message.replaceAll("(?s).*diverged at step (\\d+).*", "$1"));
        assertTrue(saved.stream().allMatch(p -> new CheckpointFiles(out).step(p) < stoppedAt), saved.toString());
        if (!saved.isEmpty()) {
            Path last = saved.get(saved.size() - 1);
            assertTrue(message.contains("The last good checkpoint is " + last + ", untouched"), message);
            TrainingState state = CharLanguageModel.trainingState(last).orElseThrow();
            assertTrue(Double.isFinite(CharLanguageModel.load(last).network().params().sumNumber().doubleValue()),
                    "step " + state.step());
        }
    }
}
