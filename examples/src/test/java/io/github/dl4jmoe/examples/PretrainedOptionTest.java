package io.github.dl4jmoe.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code generate} and {@code stats} read either pretrained model, and say so when given two models. */
class PretrainedOptionTest {

    @Test
    void generateSamplesThePeerModel() throws IOException {
        String peer = generate("--pretrained", "peer");
        String topP = generate();
        assertTrue(peer.startsWith("ROMEO:") && peer.length() == "ROMEO:".length() + 40, peer);
        assertNotEquals(topP, peer, "another model, another sample at the same seed");
        assertEquals(topP, generate("--pretrained", "MOE_TOPP"), "MOE_TOPP is the default");
    }

    @Test
    void statsReportsThePeerModelsLayers(@TempDir Path dir) throws IOException {
        StatsCommand stats = new StatsCommand();
        new CommandLine(stats).setCaseInsensitiveEnumValuesAllowed(true).parseArgs("--pretrained", "peer",
                "--batches", "1", "--batch-size", "4", "--out", dir.toString());
        RoutingReport report = stats.run().report();
        assertEquals(2, report.peer().size(), report.summary().toString());
        assertTrue(report.moe().isEmpty(), report.summary().toString());
    }

    @Test
    void aSavedAndAPretrainedModelTogetherAreAUsageError(@TempDir Path dir) {
        StringWriter err = new StringWriter();
        CommandLine cli = MoeExamples.commandLine();
        cli.getSubcommands().values().forEach(c -> c.setErr(new PrintWriter(err)));
        String saved = dir.resolve("model.zip").toString();
        assertEquals(2, cli.execute("generate", "--model", saved, "--pretrained", "peer"));
        assertEquals(2, cli.execute("stats", "--model", saved, "--pretrained", "peer"));
        assertTrue(err.toString().contains("generate: --model and --pretrained name two models; pass one of them"),
                err.toString());
        assertTrue(err.toString().contains("stats: --model and --pretrained name two models"), err.toString());
    }

    private static String generate(String... args) throws IOException {
        GenerateCommand generate = new GenerateCommand();
        String[] all = new String[args.length + 2];
        System.arraycopy(args, 0, all, 0, args.length);
        all[args.length] = "--length";
        all[args.length + 1] = "40";
        new CommandLine(generate).setCaseInsensitiveEnumValuesAllowed(true).parseArgs(all);
        return generate.run();
    }
}
