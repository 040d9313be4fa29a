package io.github.dl4jmoe.examples.ui;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import io.github.dl4jmoe.examples.TrainCommand;
import picocli.CommandLine;

/** A tiny {@code train --ui --ui-port 0} run: a top-p MoE block then a PEER block. */
final class TinyRun {

    /** The MoE (top-p) block's feed-forward layer. */
    static final String MOE_LAYER = "block0-ffn";
    /** The PEER block's feed-forward layer. */
    static final String PEER_LAYER = "block1-ffn";
    static final int STEPS = 6;

    private static final String TEXT = "to be or not to be, that is the question. ".repeat(30);

    private TinyRun() {
    }

    /** Trains {@link #STEPS} steps; returns what train printed. The statistics are in {@code statsFile}. */
    static String train(Path dir, Path statsFile) throws IOException {
        return train(dir, List.of("--steps", "" + STEPS, "--ui-file", statsFile.toString()));
    }

    /** Trains with {@link #arguments} and {@code more}; returns what train printed. */
    static String train(Path dir, List<String> more) throws IOException {
        List<String> args = arguments(dir);
        args.addAll(more);
        TrainCommand train = new TrainCommand();
        new CommandLine(train).setCaseInsensitiveEnumValuesAllowed(true).parseArgs(args.toArray(String[]::new));
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        train.run(new PrintStream(log, true, StandardCharsets.UTF_8));
        return log.toString(StandardCharsets.UTF_8);
    }

    /**
     * The options of train for the tiny model with {@code --ui --ui-port 0}, its text written to {@code dir}; without
     * {@code --steps} (train's default is 200) and without validation, checkpoints or a sample within the run.
     */
    static List<String> arguments(Path dir) throws IOException {
        Path text = dir.resolve("text.txt");
        Files.writeString(text, TEXT, StandardCharsets.UTF_8);
        return new ArrayList<>(List.of("--text", text.toString(), "--layers", "2", "--ffn", "moe_topp,peer",
                "--d-model", "8", "--heads", "2", "--context", "8", "--batch-size", "8", "--eval-batches", "1",
                "--eval-every", "" + Integer.MAX_VALUE, "--checkpoint-every", "" + Integer.MAX_VALUE,
                "--sample-length", "0", "--out", dir.resolve("lm.zip").toString(), "--ui", "--ui-port", "0"));
    }
}
