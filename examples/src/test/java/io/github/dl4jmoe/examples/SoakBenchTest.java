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

class SoakBenchTest {

    @Test
    void printsOneLinePerKindWithResidentMemoryReadings() throws Exception {
        SoakBench bench = new SoakBench();
        new CommandLine(bench).parseArgs("--ffn", "DENSE,MOE_TOPP", "--steps", "3", "--at", "1", "--batch-size", "2",
                "--context", "8");
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        List<SoakBench.Result> results = bench.run(new PrintStream(bytes, true, StandardCharsets.UTF_8));
        assertEquals(List.of(FeedForwardKind.DENSE, FeedForwardKind.MOE_TOPP),
                results.stream().map(SoakBench.Result::kind).toList());
        for (SoakBench.Result r : results) {
            assertTrue(r.rssAt() > 10 && r.rssEnd() > 10, r.toString());
        }
        String printed = bytes.toString(StandardCharsets.UTF_8);
        assertTrue(printed.contains("soak ffn=DENSE steps=3 rss_mb_1="), printed);
        assertTrue(printed.contains("soak ffn=MOE_TOPP steps=3 rss_mb_1="), printed);
    }

    @Test
    void rejectsAFirstReadingOutsideTheRun() {
        SoakBench bench = new SoakBench();
        new CommandLine(bench).parseArgs("--steps", "3", "--at", "3");
        ParameterException e = assertThrows(ParameterException.class, () -> bench.run(System.out));
        assertTrue(e.getMessage().contains("--at") && e.getMessage().contains("--steps"), e.getMessage());
    }
}
