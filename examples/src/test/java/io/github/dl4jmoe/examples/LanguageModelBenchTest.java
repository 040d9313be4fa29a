package io.github.dl4jmoe.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

import io.github.dl4jmoe.zoo.FeedForwardKind;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.ParameterException;

class LanguageModelBenchTest {

    @Test
    void timesOnlyTheStepsAfterTheWarmUpAndPrintsLmTorchsFormat() throws Exception {
        LanguageModelBench bench = new LanguageModelBench();
        new CommandLine(bench).parseArgs("--ffn", "DENSE,MOE_TOPP", "--steps", "3", "--warmup", "1",
                "--batch-size", "2", "--context", "8");
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        List<LanguageModelBench.Result> results = bench.run(new PrintStream(bytes, true, StandardCharsets.UTF_8));
        assertEquals(List.of(FeedForwardKind.DENSE, FeedForwardKind.MOE_TOPP),
                results.stream().map(LanguageModelBench.Result::kind).toList());
        for (LanguageModelBench.Result r : results) {
            assertEquals(3 * 2 * 8, r.tokens(), "the timed steps' characters only: " + r);
            assertTrue(r.seconds() > 0 && r.loss() > 0 && r.loss() < 2 * Math.log(65), "per character: " + r);
        }
        String printed = bytes.toString(StandardCharsets.UTF_8);
        assertTrue(printed.matches("(?s)lm-train tokens/s=\\d+ step_ms=[0-9.]+ ffn=dense loss=[0-9.]+\\R"
                + "lm-train tokens/s=\\d+ step_ms=[0-9.]+ ffn=moe_topp loss=[0-9.]+\\R"
                + "MOE_TOPP: [0-9.]+ of dense\\R"), printed);
    }

    @Test
    void namesTheOptionOfAMistake() {
        LanguageModelBench bench = new LanguageModelBench();
        new CommandLine(bench).parseArgs("--steps", "0");
        ParameterException e = assertThrows(ParameterException.class, () -> bench.run(System.out));
        assertEquals("--steps must be at least 1, got 0 (try 300)", e.getMessage());
        new CommandLine(bench).parseArgs("--warmup", "-1");
        e = assertThrows(ParameterException.class, () -> bench.run(System.out));
        assertEquals("--warmup must be 0 or more, got -1 (try 50)", e.getMessage());
    }
}
