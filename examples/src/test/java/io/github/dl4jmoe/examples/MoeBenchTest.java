package io.github.dl4jmoe.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class MoeBenchTest {

    @Test
    void tinyBenchRunsAllThreeVariants() {
        MoeBench bench = new MoeBench();
        new CommandLine(bench).parseArgs("--tokens", "64", "--dim", "16", "--experts", "8", "--expert-hidden", "4",
                "--steps", "2", "--warmup", "1");
        MoeBench.Result r = bench.run();
        assertTrue(r.dispatchMillis() > 0 && r.denseMillis() > 0 && r.activeWidthDenseMillis() > 0, r.toString());
    }

    @Test
    void commandLineRunsTopP() {
        assertEquals(0, MoeExamples.commandLine().execute("bench", "moe", "--tokens", "32", "--dim", "8",
                "--experts", "4", "--expert-hidden", "4", "--top-p", "0.4", "--steps", "1", "--warmup", "0"));
    }
}
