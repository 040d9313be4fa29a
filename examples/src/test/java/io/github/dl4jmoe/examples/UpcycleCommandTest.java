package io.github.dl4jmoe.examples;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import io.github.dl4jmoe.layers.FineRMoeLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class UpcycleCommandTest {

    @Test
    void upcyclesACharMlpCheckpointPreservingItsLossAndKeepsTraining(@TempDir Path dir) throws Exception {
        Path dense = dir.resolve("dense.zip");
        Path moe = dir.resolve("moe.zip");
        assertEquals(0, MoeExamples.commandLine().execute("char-mlp", "--steps", "20", "--batch", "32",
                "--d-model", "16", "--d-ff", "16", "--sample-length", "5", "--save", dense.toString()));

        UpcycleCommand command = new UpcycleCommand();
        new CommandLine(command).parseArgs("--dense", dense.toString(), "--out", moe.toString(), "--steps", "3",
                "--batch", "16");
        UpcycleCommand.Result r = command.run();
        assertEquals(1, r.converted());
        assertEquals(r.denseBefore(), r.moeBefore(), 1e-4, "PRESERVING keeps the validation loss");
        assertTrue(r.moeMillisPerStep() > 0 && r.denseMillisPerStep() > 0);
        assertTrue(Files.size(moe) > 0);
        MultiLayerNetwork restored = ModelSerializer.restoreMultiLayerNetwork(moe.toFile(), false);
        assertTrue(restored.getLayer(1).conf().getLayer() instanceof FineRMoeLayer);
    }

    @Test
    void missingCheckpointIsAnError(@TempDir Path dir) {
        assertTrue(MoeExamples.commandLine().execute("upcycle", "--dense", dir.resolve("none.zip").toString(),
                "--out", dir.resolve("x.zip").toString()) != 0);
    }

    @Test
    void anOutputThatIsAnInputIsRefusedBeforeAnyWork(@TempDir Path dir) throws IOException {
        Path dense = denseCheckpoint(dir);
        byte[] before = Files.readAllBytes(dense);
        Path link = Files.createLink(dir.resolve("link.zip"), dense);      // another name of the same file
        assertEquals("upcycle: --out " + link + " is also --dense; writing it would replace the input (give --out "
                + "another file)", run(2, "upcycle", "--dense", dense.toString(), "--out", link.toString()));
        Path text = Files.writeString(dir.resolve("text.txt"), "to be or not to be ".repeat(20),
                StandardCharsets.UTF_8);
        assertEquals("upcycle: --out " + text + " is also --text; writing it would replace the input (give --out "
                + "another file)", run(2, "upcycle", "--dense", dense.toString(), "--text", text.toString(), "--out",
                text.toString()));
        assertArrayEquals(before, Files.readAllBytes(dense));
    }

    @Test
    void aFailedWriteLeavesThePreviousFileIntact(@TempDir Path dir) throws IOException {
        Path dense = denseCheckpoint(dir);
        // the longest name most file systems allow (255 bytes) leaves no room for the temporary file's: the write fails
        Path out = Files.writeString(dir.resolve("m".repeat(251) + ".zip"), "the previous model");
        String line = run(1, "upcycle", "--dense", dense.toString(), "--out", out.toString());
        assertTrue(line.startsWith("upcycle: ") && line.contains("File name too long"), line);
        assertEquals("the previous model", Files.readString(out));
        try (var files = Files.list(dir)) {
            assertEquals(List.of(dense, out), files.sorted().toList(), "no temporary file left");
        }
    }

    /** An untrained char-mlp checkpoint on the bundled text. */
    private static Path denseCheckpoint(Path dir) {
        Path dense = dir.resolve("dense.zip");
        assertEquals(0, MoeExamples.commandLine().execute("char-mlp", "--steps", "0", "--batch", "8", "--d-model", "8",
                "--d-ff", "16", "--sample-length", "0", "--save", dense.toString()));
        return dense;
    }

    /**
     * Runs the program; asserts the exit code and one line on standard error, which it returns without the program's
     * name ("upcycle: ...").
     */
    static String run(int exitCode, String... args) {
        StringWriter err = new StringWriter();
        CommandLine cli = MoeExamples.commandLine();
        cli.setErr(new PrintWriter(err, true));
        assertEquals(exitCode, cli.execute(args), err.toString());
        assertEquals(1, err.toString().lines().count(), "one line: " + err);
        assertTrue(err.toString().startsWith("dl4j-moe "), err.toString());
        return err.toString().strip().substring("dl4j-moe ".length());
    }
}
