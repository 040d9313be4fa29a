package io.github.dl4jmoe.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class PeerBenchTest {

    @Test
    void tinyBenchTrainsAndInfers() {
        PeerBench bench = new PeerBench();
        new CommandLine(bench).parseArgs("--tokens", "32", "--dim", "16", "--experts", "256", "--heads", "2",
                "--topk", "4", "--dkey", "8", "--steps", "2", "--warmup", "1", "--updater", "ADAM");
        PeerBench.Result r = bench.run();
        assertTrue(r.tokensPerSecond() > 0 && r.inferenceMillis() > 0, r.toString());
        assertEquals(256, r.experts());
    }

    @Test
    void badUpdaterIsAUsageError() {
        assertEquals(2, MoeExamples.commandLine().execute("bench", "peer", "--experts", "256", "--heads", "1",
                "--topk", "2", "--dkey", "4", "--tokens", "8", "--dim", "4", "--steps", "1", "--updater", "rmsprop"));
    }
}
