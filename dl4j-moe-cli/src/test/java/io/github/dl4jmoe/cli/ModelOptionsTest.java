package io.github.dl4jmoe.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.concurrent.Callable;

import io.github.dl4jmoe.layers.DenseFeedForward;
import io.github.dl4jmoe.layers.MoeFeedForward;
import io.github.dl4jmoe.layers.PeerLayer;
import io.github.dl4jmoe.sequence.CausalSelfAttention;
import io.github.dl4jmoe.zoo.CharLanguageModel;
import io.github.dl4jmoe.zoo.MoETransformerLM;
import io.github.dl4jmoe.zoo.data.CharacterVocabulary;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.learning.config.Adam;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.ParameterException;

class ModelOptionsTest {

    private static final CharacterVocabulary VOCABULARY = CharacterVocabulary.of("to be or not to be");

    /** A program with nothing but the model options, building the model when run. */
    @Command(name = "holder")
    static final class Holder implements Callable<Integer> {
        @Mixin
        ModelOptions modelOptions;

        @Override
        public Integer call() {
            modelOptions.newModel(VOCABULARY);
            return 0;
        }
    }

    private static ModelOptions parse(String... args) {
        Holder holder = new Holder();
        CommandLines.userFacing(new CommandLine(holder)).parseArgs(args);
        return holder.modelOptions;
    }

    private static Layer layer(ComputationGraph net, String name) {
        return net.getLayer(name).conf().getLayer();
    }

    @Test
    void optionsDefineTheModel() {
        ModelOptions options = parse("--ffn", "dense,peer", "--layers", "2", "--d-model", "16", "--heads", "2",
                "--context", "8", "--lr", "1e-2", "--seed", "7");
        assertEquals(8, options.context());
        assertEquals(7, options.seed());
        CharLanguageModel model = options.newModel(VOCABULARY);
        assertEquals(8, model.contextLength());
        assertEquals(VOCABULARY, model.vocabulary());

        ComputationGraph net = model.network();
        ComputationGraphConfiguration conf = net.getConfiguration();
        assertEquals(7, conf.getDefaultConfiguration().getSeed());
        assertEquals(16, ((FeedForwardLayer) layer(net, "embed")).getNOut());
        assertEquals(VOCABULARY.size(), ((FeedForwardLayer) layer(net, MoETransformerLM.OUTPUT)).getNOut());
        assertInstanceOf(DenseFeedForward.class, layer(net, "block0-ffn"));
        assertInstanceOf(PeerLayer.class, layer(net, "block1-ffn"));
        assertFalse(conf.getVertices().containsKey("block2-ffn"), "two blocks");
        assertEquals(2, ((CausalSelfAttention) layer(net, "block1-attn")).getNHeads());
        Adam adam = (Adam) ((BaseLayer) layer(net, "embed")).getIUpdater();
        assertEquals(1e-2, adam.getLearningRate(), 1e-12);
    }

    @Test
    void oneKindServesEveryBlockAndDefaultsAreTheZoos() {
        ModelOptions options = parse("--ffn", "moe_topk", "--layers", "3", "--d-model", "8", "--heads", "2");
        assertEquals(MoETransformerLM.DEFAULT_CONTEXT_LENGTH, options.context());
        assertEquals(MoETransformerLM.DEFAULT_SEED, options.seed());
        ComputationGraph net = options.newModel(VOCABULARY).network();
        for (int block = 0; block < 3; block++) {
            assertInstanceOf(MoeFeedForward.class, layer(net, "block" + block + "-ffn"));
        }
        Adam adam = (Adam) ((BaseLayer) layer(net, "embed")).getIUpdater();
        assertEquals(MoETransformerLM.DEFAULT_LEARNING_RATE, adam.getLearningRate(), 1e-12);
    }

    @Test
    void kindsMustMatchTheLayers() {
        ModelOptions options = parse("--ffn", "dense,peer,dense", "--layers", "2", "--d-model", "8", "--heads", "2");
        ParameterException e = assertThrows(ParameterException.class, () -> options.newModel(VOCABULARY));
        assertEquals("--ffn names 3 kinds for 2 layers (give one kind, or one per layer)", e.getMessage());

        assertRejected("holder: --ffn names 3 kinds for 2 layers (give one kind, or one per layer)",
                "--ffn", "dense,peer,dense", "--layers", "2", "--d-model", "8", "--heads", "2");
        StringWriter err = new StringWriter();
        CommandLine cli = CommandLines.userFacing(new CommandLine(new Holder()));
        cli.setErr(new PrintWriter(err, true));
        assertEquals(2, cli.execute("--ffn", "sparse"), "an unknown kind is a usage error");
        assertTrue(err.toString().contains("sparse"), err.toString());
    }

    @Test
    void theLearningRateMustBeAPositiveNumber() {
        assertRejected("holder: --lr must be a positive number, got NaN (the default is 0.002)", "--lr", "NaN");
        assertRejected("holder: --lr must be a positive number, got -0.001 (the default is 0.002)", "--lr", "-1e-3");
        assertRejected("holder: --lr must be a positive number, got Infinity (the default is 0.002)", "--lr",
                "Infinity");
    }

    @Test
    void eachKindMustFitTheWidthBeforeAnythingIsBuilt() {
        String line = assertRejected(null, "--ffn", "dense,finer_moe", "--d-model", "63", "--heads", "3");
        assertTrue(line.startsWith("holder: --ffn finer_moe does not fit --d-model 63: FineRMoeLayer")
                && line.contains("nOut must be a multiple of outputGranularity = 2")
                && line.endsWith("(try --d-model 66)"), line);
        assertRejected("holder: --heads must divide --d-model 64, got 5 (try --heads 4)", "--heads", "5");
        assertRejected("holder: --layers must be at least 1, got 0 (the default is 2)", "--layers", "0");
        assertRejected("holder: --context must be at least 1, got 0 (the default is 64)", "--context", "0");
    }

    /** Runs the holder, asserts exit code 2 and one line on standard error, equal to {@code line} unless null. */
    private static String assertRejected(String line, String... args) {
        StringWriter err = new StringWriter();
        CommandLine cli = CommandLines.userFacing(new CommandLine(new Holder()));
        cli.setErr(new PrintWriter(err, true));
        assertEquals(2, cli.execute(args), err.toString());
        String printed = err.toString();
        assertTrue(printed.endsWith(System.lineSeparator()) && printed.strip().lines().count() == 1, printed);
        if (line != null) {
            assertEquals(line, printed.strip());
        }
        return printed.strip();
    }
}
