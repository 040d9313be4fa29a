package io.github.dl4jmoe.cli;

import static io.github.dl4jmoe.cli.CommandLines.usage;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;

import io.github.dl4jmoe.zoo.CharLanguageModel;
import io.github.dl4jmoe.zoo.checkpoint.AtomicFiles;
import io.github.dl4jmoe.zoo.data.Utf8Text;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.shade.jackson.core.JsonProcessingException;
import org.nd4j.shade.jackson.databind.JsonNode;
import org.nd4j.shade.jackson.databind.ObjectMapper;
import picocli.CommandLine.Model.CommandSpec;

/**
 * Files named by options, read or loaded with every problem a user can fix reported as a usage error
 * ({@link CommandLines#usage}) that names the option and the file: missing, a directory, not UTF-8, not a zip, not a
 * DL4J model, a model of the wrong kind. What the file should be ({@code what}, e.g. "a model saved by train") ends
 * each message as the fix.
 */
public final class FileOptions {

    /** The two kinds of network a ModelSerializer zip holds. */
    public enum NetworkKind {
        MULTI_LAYER_NETWORK("a MultiLayerNetwork"),
        COMPUTATION_GRAPH("a ComputationGraph");

        private final String description;

        NetworkKind(String description) {
            this.description = description;
        }

        @Override
        public String toString() {
            return description;
        }
    }

    private static final String CONFIGURATION_ENTRY = ModelSerializer.CONFIGURATION_JSON;
    /** A graph configuration lists its vertices; a MultiLayerConfiguration its confs. */
    private static final String GRAPH_FIELD = "vertices";

    private FileOptions() {
    }

    /** The whole UTF-8 text of the file {@code option} names ({@link Utf8Text}). */
    public static String readText(CommandSpec spec, String option, Path file) throws IOException {
        requireFile(spec, option, file, "a UTF-8 text file");
        try {
            return Utf8Text.read(file);
        } catch (CharacterCodingException e) {
            throw usage(spec, option + ": " + e.getMessage(), e);
        }
    }

    /** Checks that {@code option} names a readable file. */
    public static void requireFile(CommandSpec spec, String option, Path file, String what) {
        if (Files.isDirectory(file)) {
            throw usage(spec, option + ": " + file + " is a directory (pass " + what + ")");
        }
        if (!Files.isRegularFile(file)) {
            throw usage(spec, option + ": no file at " + file.toAbsolutePath() + " (pass " + what + ")");
        }
        if (!Files.isReadable(file)) {
            throw usage(spec, option + ": cannot read " + file + ", permission denied (pass " + what + ")");
        }
    }

    /** Checks that {@code option} can name a file to write: not a directory, not inside a file. */
    public static void requireWritableFile(CommandSpec spec, String option, Path file) {
        if (Files.isDirectory(file)) {
            throw usage(spec, option + ": " + file + " is a directory; name a file in it, e.g. "
                    + file.resolve("model.zip"));
        }
        for (Path p = file.toAbsolutePath().getParent(); p != null; p = p.getParent()) {
            if (Files.exists(p) && !Files.isDirectory(p)) {
                throw usage(spec, option + ": cannot write " + file + " because " + p + " is a file, not a directory");
            }
        }
    }

    /**
     * Refuses an output that would replace an input, the same path or the same file on disk through another path or a
     * link ({@link AtomicFiles#requireDistinct}): "--out a.zip is also --dense; writing it would replace the input
     * (give --out another file)".
     *
     * @param input may be null (the input option was not given)
     */
    public static void requireDistinct(CommandSpec spec, String outputOption, Path output, String inputOption,
                                       Path input) throws IOException {
        try {
            AtomicFiles.requireDistinct(outputOption, output, inputOption, input);
        } catch (IllegalArgumentException e) {
            throw usage(spec, e.getMessage(), e);
        }
    }

    /**
     * Which network the ModelSerializer zip {@code option} names holds, from its configuration alone.
     *
     * @param what what the file should be, e.g. "a model saved by train"
     */
    public static NetworkKind networkKind(CommandSpec spec, String option, Path file, String what)
            throws IOException {
        requireFile(spec, option, file, what);
        JsonNode configuration;
        try (ZipFile zip = new ZipFile(file.toFile())) {
            ZipEntry entry = zip.getEntry(CONFIGURATION_ENTRY);
            if (entry == null) {
                throw usage(spec, option + ": " + file + " is a zip without " + CONFIGURATION_ENTRY
                        + ", so not a DL4J model (pass " + what + ")");
            }
            try (InputStream in = zip.getInputStream(entry)) {
                configuration = new ObjectMapper().readTree(new String(in.readAllBytes(), StandardCharsets.UTF_8));
            }
        } catch (ZipException e) {
            throw usage(spec, option + ": " + file + " is not a zip file (" + e.getMessage() + "); pass " + what, e);
        } catch (JsonProcessingException e) {
            throw usage(spec, option + ": " + file + " has an unreadable " + CONFIGURATION_ENTRY + ", so not a DL4J "
                    + "model (pass " + what + ")", e);
        }
        return configuration.has(GRAPH_FIELD) ? NetworkKind.COMPUTATION_GRAPH : NetworkKind.MULTI_LAYER_NETWORK;
    }

    /** The network in a ModelSerializer zip, whichever kind, without its updater state. */
    public static Model loadNetwork(CommandSpec spec, String option, Path file, String what) throws IOException {
        NetworkKind kind = networkKind(spec, option, file, what);
        try {
            return kind == NetworkKind.COMPUTATION_GRAPH ? ModelSerializer.restoreComputationGraph(file.toFile(), false)
                    : ModelSerializer.restoreMultiLayerNetwork(file.toFile(), false);
        } catch (RuntimeException e) {
            throw unreadable(spec, option, file, kind, what, e);
        }
    }

    /** The {@link MultiLayerNetwork} in a ModelSerializer zip; a graph is a usage error. */
    public static MultiLayerNetwork loadMultiLayerNetwork(CommandSpec spec, String option, Path file, String what,
                                                         boolean loadUpdater) throws IOException {
        requireNetwork(spec, option, file, what, NetworkKind.MULTI_LAYER_NETWORK);
        try {
            return ModelSerializer.restoreMultiLayerNetwork(file.toFile(), loadUpdater);
        } catch (RuntimeException e) {
            throw unreadable(spec, option, file, NetworkKind.MULTI_LAYER_NETWORK, what, e);
        }
    }

    /** A character model saved by {@link CharLanguageModel#save}: a graph with its vocabulary. */
    public static CharLanguageModel loadCharModel(CommandSpec spec, String option, Path file) throws IOException {
        String what = "a model saved by train, e.g. models/char-lm.zip";
        requireNetwork(spec, option, file, what, NetworkKind.COMPUTATION_GRAPH);
        try {
            return CharLanguageModel.load(file);
        } catch (RuntimeException e) {     // e.g. no vocabulary: a graph saved by another program
            throw usage(spec, option + ": " + file + " is a DL4J ComputationGraph but not a character model ("
                    + reason(e) + "); pass " + what, e);
        }
    }

    /** Checks that {@code option} names a ModelSerializer zip of the {@code expected} kind, without loading it. */
    public static void requireNetwork(CommandSpec spec, String option, Path file, String what, NetworkKind expected)
            throws IOException {
        NetworkKind kind = networkKind(spec, option, file, what);
        if (kind != expected) {
            throw usage(spec, option + ": " + file + " holds " + kind + ", not " + expected + " (pass " + what + ")");
        }
    }

    private static RuntimeException unreadable(CommandSpec spec, String option, Path file, NetworkKind kind,
                                               String what, RuntimeException e) {
        return usage(spec, option + ": cannot load " + file + " as " + kind + " (" + reason(e)
                + "); pass " + what, e);
    }

    /** The innermost message of {@code e}, on one line. */
    private static String reason(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage().strip().replaceAll("\\s+", " ");
    }
}
