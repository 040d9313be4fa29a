package io.github.dl4jmoe.examples.ui;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import io.github.dl4jmoe.examples.TrainCommand;
import picocli.CommandLine;

/** A tiny {@code train --ui --ui-port 0 --ui-file} run: a top-p MoE block then a PEER block. */
final class TinyRun {

    /** The MoE (top-p) block's feed-forward layer. */
    static final String MOE_LAYER = "block0-ffn";
    /** The PEER block's feed-forward layer. */
    static final String PEER_LAYER = "block1-ffn";
    static final int STEPS = 6;

    private static final String TEXT = "to be or not to be, that is the question. ".repeat(30);

    private TinyRun() {
    }

    /** Trains; returns what train printed. The statistics are in {@code statsFile}. */
    static String train(Path dir, Path statsFile) throws IOException {
        Path text = dir.resolve("text.txt");
        Files.writeString(text, TEXT, StandardCharsets.UTF_8);
        TrainCommand train = new TrainCommand();
        new CommandLine(train).setCaseInsensitiveEnumValuesAllowed(true).parseArgs("--text", text.toString(),
                "--layers", "2", "--ffn", "moe_topp,peer", "--d-model", "8", "--heads", "2", "--context", "8",
                "--batch-size", "8", "--eval-batches", "1", "--sample-length", "0", "--steps", "" + STEPS,
                "--out", dir.resolve("lm.zip").toString(), "--ui", "--ui-port", "0", "--ui-file",
                statsFile.toString());
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        train.run(new PrintStream(log, true, StandardCharsets.UTF_8));
        return log.toString(StandardCharsets.UTF_8);
    }
}
