package io.github.dl4jmoe.zoo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;

import io.github.dl4jmoe.layers.DenseFeedForward;
import io.github.dl4jmoe.zoo.PretrainedLanguageModel.Figures;
import io.github.dl4jmoe.zoo.data.CharacterVocabulary;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The shipped models: read from the classpath (no download exists to fall back on), measured again on the whole
 * validation split and checked against their stated figures and the targets they were trained for.
 */
class PretrainedModelTest {

    /** The stated figures are rounded to 4 decimals; float inference may differ in the last one. */
    private static final double TOLERANCE = 1e-3;
    private static final long MAX_BYTES = 10L << 20;

    @ParameterizedTest
    @EnumSource(PretrainedLanguageModel.class)
    void reachesItsStatedFigures(PretrainedLanguageModel pretrained) throws IOException {
        CharLanguageModel lm = pretrained.load();
        Figures stated = pretrained.figures();
        Figures measured = PretrainedLanguageModel.measure(lm);

        assertEquals(stated.validationLoss(), measured.validationLoss(), TOLERANCE, measured.toString());
        assertArrayEquals(stated.expertsPerToken(), measured.expertsPerToken(), TOLERANCE, measured.toString());
        assertArrayEquals(stated.loadKl(), measured.loadKl(), TOLERANCE, measured.toString());
        if (pretrained == PretrainedLanguageModel.MOE_TOPP) {                        // what it was trained to reach
            assertTrue(measured.validationLoss() <= 1.70, "at most 1.70 nats/char: " + measured);
            for (double kl : measured.loadKl()) {
                assertTrue(kl <= 0.10, "no router collapsed (load KL <= 0.10 in every block): " + measured);
            }
        }
        assertTrue(measured.validationLoss() < Math.log(lm.vocabulary().size()) - 2, "far below a uniform guess");
        try (InputStream in = PretrainedLanguageModel.class.getResourceAsStream(pretrained.resource())) {
            long bytes = in.readAllBytes().length;
            assertTrue(bytes < MAX_BYTES, pretrained.resource() + " is " + bytes + " bytes");
        }

        ComputationGraph zoo = MoETransformerLM.builder().vocabularySize(2).feedForward(pretrained.feedForward())
                .build().initPretrained();
        assertEquals(lm.network().params(), zoo.params(), "the ZooModel entry point loads the same network");
        assertTrue(lm.sample("ROMEO:", 40, 0.8, 1).startsWith("ROMEO:"));
    }

    @Test
    void theDefaultBuilderAndPretrainedLoadTheTopPModel() throws IOException {
        assertEquals(PretrainedLanguageModel.MOE_TOPP.feedForward(), MoETransformerLM.DEFAULT_FEED_FORWARD);
        assertEquals(PretrainedLanguageModel.MOE_TOPP.load().network().params(),
                CharLanguageModel.pretrained().network().params());
    }

    @Test
    void otherFeedForwardKindsSayWhichModelsShip() {
        UnsupportedOperationException dense = assertThrows(UnsupportedOperationException.class,
                () -> MoETransformerLM.builder().vocabularySize(65).feedForward(FeedForwardKind.DENSE).build()
                        .initPretrained());
        assertEquals("MoETransformerLM: no pretrained model with [DENSE, DENSE] blocks; the pretrained ones have "
                + "[MOE_TOPP, PEER] in every block (e.g. builder().feedForward(FeedForwardKind.PEER))",
                dense.getMessage());
        UnsupportedOperationException mixed = assertThrows(UnsupportedOperationException.class,
                () -> MoETransformerLM.builder().vocabularySize(65)
                        .feedForward(FeedForwardKind.MOE_TOPP, FeedForwardKind.PEER).build().initPretrained());
        assertTrue(mixed.getMessage().contains("[MOE_TOPP, PEER] blocks"), mixed.getMessage());
        UnsupportedOperationException configured = assertThrows(UnsupportedOperationException.class,
                () -> MoETransformerLM.builder().vocabularySize(65).feedForwardLayer(0,
                        new DenseFeedForward.Builder().dFf(16).build()).build().initPretrained());
        assertTrue(configured.getMessage().contains("configured feed-forward layer blocks"),
                configured.getMessage());
    }

    @Test
    void measuringADenseModelSaysItHasNoExperts() throws IOException {
        CharLanguageModel pretrained = CharLanguageModel.pretrained();
        CharacterVocabulary vocabulary = pretrained.vocabulary();
        ComputationGraph dense = MoETransformerLM.builder().vocabularySize(vocabulary.size()).dModel(8).heads(2)
                .feedForward(FeedForwardKind.DENSE).build().init();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> PretrainedLanguageModel.measure(new CharLanguageModel(dense, vocabulary, 64)));
        assertEquals("PretrainedLanguageModel: layer block0-ffn reports no routing (a dense block has no experts to "
                + "measure)", e.getMessage());
    }
}
