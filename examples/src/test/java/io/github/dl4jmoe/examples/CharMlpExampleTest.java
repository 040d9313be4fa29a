package io.github.dl4jmoe.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class CharMlpExampleTest {

    @Test
    void shortRunLowersValidationLossAndSamples() throws Exception {
        CharMlpExample example = new CharMlpExample();
        new CommandLine(example).parseArgs("--steps", "60", "--batch", "64", "--d-model", "32", "--d-ff", "64",
                "--sample-length", "40");
        CharMlpExample.Result r = example.run();
        assertTrue(r.finalValidationLoss() < r.initialValidationLoss() - 0.5,
                "loss should fall well below uniform: " + r.initialValidationLoss() + " -> " + r.finalValidationLoss());
        assertEquals(8 + 40, r.sample().length());
    }

    @Test
    void commandLineRunsAndExitsZero() {
        int code = MoeExamples.commandLine().execute("char-mlp", "--steps", "2", "--batch", "8", "--d-model", "8",
                "--d-ff", "8", "--sample-length", "5");
        assertEquals(0, code);
    }

    @Test
    void unknownOptionIsAUsageError() {
        assertEquals(2, MoeExamples.commandLine().execute("char-mlp", "--stepz", "2"));
    }

    @Test
    void savingOverTheTextIsRefusedBeforeAnyWork(@TempDir Path dir) throws IOException {
        String content = "to be or not to be, that is the question. ".repeat(10);
        Path text = Files.writeString(dir.resolve("text.txt"), content, StandardCharsets.UTF_8);
        assertEquals("char-mlp: --save " + text + " is also --text; writing it would replace the input (give --save "
                + "another file)", UpcycleCommandTest.run(2, "char-mlp", "--text", text.toString(), "--save",
                text.toString()));
        assertEquals(content, Files.readString(text));
    }

    @Test
    void aFailedWriteLeavesThePreviousFileIntact(@TempDir Path dir) throws IOException {
        // the longest name most file systems allow (255 bytes) leaves no room for the temporary file's: the write fails
        Path save = Files.writeString(dir.resolve("m".repeat(251) + ".zip"), "the previous model");
        String line = UpcycleCommandTest.run(1, "char-mlp", "--steps", "0", "--batch", "8", "--d-model", "8",
                "--d-ff", "8", "--sample-length", "0", "--save", save.toString());
        assertTrue(line.startsWith("char-mlp: ") && line.contains("File name too long"), line);
        assertEquals("the previous model", Files.readString(save));
        try (var files = Files.list(dir)) {
            assertEquals(List.of(save), files.toList(), "no temporary file left");
        }
    }
}
