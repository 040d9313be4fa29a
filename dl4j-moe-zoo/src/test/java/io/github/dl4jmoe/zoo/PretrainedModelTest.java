package io.github.dl4jmoe.zoo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;

import io.github.dl4jmoe.zoo.data.CharacterIterator;
import io.github.dl4jmoe.zoo.data.CharacterIterator.Split;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;

/** The shipped model: read from the classpath (no download exists to fall back on), checked against its stated loss. */
class PretrainedModelTest {

    @Test
    void loadsFromTheClasspathAndReachesItsStatedValidationLoss() throws IOException {
        CharLanguageModel lm = CharLanguageModel.pretrained();
        CharacterIterator validation = CharacterIterator.builder().vocabulary(lm.vocabulary())
                .sequenceLength(CharLanguageModel.PRETRAINED_EVAL_LENGTH).batchSize(64).split(Split.VALIDATION)
                .shuffle(false).build();
        double loss = lm.validationLoss(validation);
        assertEquals(CharLanguageModel.PRETRAINED_VALIDATION_LOSS, loss, 1e-3, "validation loss " + loss);
        assertTrue(loss < Math.log(lm.vocabulary().size()) - 1, "well below a uniform guess");

        ComputationGraph zoo = MoETransformerLM.builder().vocabularySize(2).build().initPretrained();
        assertEquals(lm.network().params(), zoo.params(), "the ZooModel entry point loads the same network");
        assertTrue(lm.sample("ROMEO:", 40, 0.8, 1).startsWith("ROMEO:"));
    }
}
