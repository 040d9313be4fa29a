package io.github.dl4jmoe.examples;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import io.github.dl4jmoe.cli.CommandLines;
import io.github.dl4jmoe.cli.FileOptions;
import io.github.dl4jmoe.runtime.BaseMoeLayer;
import io.github.dl4jmoe.zoo.CharLanguageModel;
import io.github.dl4jmoe.zoo.PretrainedLanguageModel;
import io.github.dl4jmoe.zoo.data.CharacterIterator;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.EmbeddingLayer;
import org.deeplearning4j.nn.conf.layers.EmbeddingSequenceLayer;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * Routing statistics of a saved character model on the validation split of a text ({@link CharacterIterator}):
 * runs the model in inference batch by batch and writes a {@link RoutingReport} (CSV files and PNG charts) of every
 * MoE and PEER layer.
 *
 * <p>Feature format: a model whose first layer is an {@code EmbeddingSequenceLayer} or {@code EmbeddingLayer} is fed
 * character indices {@code [mb, T]}; any other model one-hot vectors {@code [mb, V, T]}, whose width V (the text's
 * vocabulary) must equal the first layer's nIn. {@code --features} overrides the detection.
 */
@Command(name = "stats", mixinStandardHelpOptions = true,
        description = "Routing statistics of a saved model on validation text: CSV files and PNG charts.")
public final class StatsCommand implements Callable<Integer> {

    /** How characters are fed to the model. */
    public enum Features {
        /** Indices for an embedding first layer, one-hot otherwise. */
        AUTO,
        /** One-hot {@code [mb, V, T]}. */
        ONE_HOT,
        /** Character indices {@code [mb, T]}. */
        INDICES
    }

    /** What --model should name. */
    private static final String MODEL_FILE = "a model saved with ModelSerializer, e.g. by a training program's --save";

    @Spec
    CommandSpec spec;

    @Option(names = "--model", description = "model saved with ModelSerializer (MultiLayerNetwork or "
            + "ComputationGraph zip; default: a pretrained MoETransformerLM, see --pretrained, with its own "
            + "vocabulary)")
    Path model;
    @Option(names = "--pretrained", description = "without --model: MOE_TOPP (the default) or PEER, the pretrained "
            + "model with those feed-forward blocks")
    PretrainedLanguageModel pretrainedModel;
    @Option(names = "--text", description = "UTF-8 text whose validation split is read (default: bundled tiny "
            + "Shakespeare); use the text the model was trained on, so the vocabulary matches")
    Path text;
    @Option(names = "--out", defaultValue = "stats-out", description = "output directory (default: ${DEFAULT-VALUE})")
    Path out;
    @Option(names = "--batches", defaultValue = "20",
            description = "most batches to read, 0 for the whole validation split (default: ${DEFAULT-VALUE})")
    int batches;
    @Option(names = "--batch-size", defaultValue = "32", description = "windows per batch (default: ${DEFAULT-VALUE})")
    int batchSize;
    @Option(names = "--sequence-length", defaultValue = "64",
            description = "characters per window (default: ${DEFAULT-VALUE})")
    int sequenceLength;
    @Option(names = "--features", defaultValue = "AUTO",
            description = "AUTO, ONE_HOT or INDICES: how characters are fed to the model (default: ${DEFAULT-VALUE}, "
                    + "indices for an embedding first layer, one-hot otherwise)")
    Features features;

    /**
     * What a run produced.
     *
     * @param files  CSV files, then PNG charts
     * @param oneHot whether the model was fed one-hot vectors (else indices)
     */
    public record Result(Path out, List<Path> files, RoutingReport report, boolean oneHot) {
    }

    @Override
    public Integer call() throws IOException {
        Result r = run();
        System.out.printf("read %d batch(es) of the validation split; wrote %d files to %s%n", r.report().batches(),
                r.files().size(), r.out().toAbsolutePath());
        r.files().forEach(f -> System.out.println("  " + f.getFileName()));
        r.report().summary().forEach(System.out::println);
        return 0;
    }

    public Result run() throws IOException {
        if (batches < 0) {
            throw usage("--batches must be 0 (all) or more, got " + batches);
        }
        if (batchSize < 1) {
            throw usage("--batch-size must be at least 1, got " + batchSize + " (try 32)");
        }
        if (sequenceLength < 1) {
            throw usage("--sequence-length must be at least 1, got " + sequenceLength + " (try 64)");
        }
        Pretrained.requireOneOf(spec, model, pretrainedModel);
        CharLanguageModel pretrained = model == null ? Pretrained.load(pretrainedModel) : null;
        Model net = pretrained != null ? pretrained.network()
                : FileOptions.loadNetwork(spec, "--model", model, MODEL_FILE);
        Layer first = firstLayer(net);
        boolean oneHot = switch (features) {
            case ONE_HOT -> true;
            case INDICES -> false;
            case AUTO -> !(first instanceof EmbeddingSequenceLayer || first instanceof EmbeddingLayer);
        };
        CharacterIterator.Builder data = CharacterIterator.builder().sequenceLength(sequenceLength).batchSize(batchSize)
                .split(CharacterIterator.Split.VALIDATION).oneHotFeatures(oneHot);
        if (pretrained != null) {
            data.vocabulary(pretrained.vocabulary());
        }
        if (text != null) {
            data.text(FileOptions.readText(spec, "--text", text));
        }
        CharacterIterator validation;
        try {
            validation = data.build();
        } catch (IllegalArgumentException e) {
            throw usage("--text: " + e.getMessage());
        }
        int vocabulary = validation.vocabulary().size();
        long nIn = first instanceof FeedForwardLayer ff ? ff.getNIn()
                : first instanceof BaseMoeLayer moe ? moe.getNIn() : -1;
        if (nIn >= 0 && nIn != vocabulary) {
            throw usage(String.format("--model: its first layer (%s, %s) takes %d %s, but the text has %d distinct "
                            + "characters (pass --text with the text the model was trained on%s)", first.getLayerName(),
                    first.getClass().getSimpleName(), nIn, oneHot ? "input features" : "vocabulary entries",
                    vocabulary, features == Features.AUTO ? "" : ", or check --features"));
        }
        RoutingReport report;
        try {
            report = RoutingReport.collect(net, validation, batches == 0 ? Integer.MAX_VALUE : batches);
        } catch (IllegalArgumentException e) {
            throw usage("--model: " + e.getMessage());
        }
        return new Result(out, report.write(out), report, oneHot);
    }

    /** The layer that receives the features: layer 0, or the graph's layer fed by its first input. */
    private Layer firstLayer(Model net) {
        if (net instanceof MultiLayerNetwork mln) {
            return mln.getLayerWiseConfigurations().getConf(0).getLayer();
        }
        ComputationGraphConfiguration conf = ((ComputationGraph) net).getConfiguration();
        String input = conf.getNetworkInputs().get(0);
        for (Map.Entry<String, List<String>> e : conf.getVertexInputs().entrySet()) {
            GraphVertex vertex = conf.getVertices().get(e.getKey());
            if (e.getValue().contains(input) && vertex instanceof LayerVertex layer) {
                return layer.getLayerConf().getLayer();
            }
        }
        throw usage("--model: no layer of the graph reads its input " + input + " directly (put a layer first, or "
                + "use a MultiLayerNetwork)");
    }

    private ParameterException usage(String message) {
        return CommandLines.usage(spec, message);
    }
}
