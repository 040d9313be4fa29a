package io.github.dl4jmoe.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;

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
}
