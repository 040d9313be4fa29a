package io.github.dl4jmoe.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
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
}
