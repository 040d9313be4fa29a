package io.github.dl4jmoe.sequence;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;

import io.github.dl4jmoe.layers.DenseFeedForward;
import io.github.dl4jmoe.layers.FfnActivation;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.EmbeddingSequenceLayer;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.weights.WeightInit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * A pre-LN transformer block in a {@code ComputationGraph}, from token ids to next-token logits, learns a task that
 * needs attention: the label at step t is the token at step t-1. A token-wise network sees only step t, so at best it
 * guesses uniformly there; the trained block must beat that on held-out sequences.
 *
 * <pre>
 * tokens -> embed -> pos -> [ln1 -> attn] + pos = res1 -> [ln2 -> ffn] + res1 = res2 -> out (softmax, MCXENT)
 * </pre>
 */
class TransformerBlockTest {

    private static final int VOCAB = 5;
    private static final int D = 8;
    private static final int T = 5;
    private static final int MB = 16;
    private static final int STEPS = 25;

    @BeforeEach
    void singlePrecision() {
        Nd4j.setDefaultDataTypes(DataType.FLOAT, DataType.FLOAT); // other tests in this JVM may have chosen double
    }

    static ComputationGraph transformerBlock() {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(12)
                .dataType(DataType.FLOAT)
                .updater(new Adam(1e-2))
                .weightInit(WeightInit.XAVIER)
                .graphBuilder()
                .addInputs("tokens")
                .addLayer("embed", new EmbeddingSequenceLayer.Builder().nIn(VOCAB).nOut(D).inputLength(T).build(),
                        "tokens")
                .addLayer("pos", new PositionalEmbedding.Builder().contextLength(T).build(), "embed")
                .addLayer("ln1", new LayerNorm.Builder().build(), "pos")
                .addLayer("attn", new CausalSelfAttention.Builder().nHeads(2).build(), "ln1")
                .addVertex("res1", new ElementWiseVertex(ElementWiseVertex.Op.Add), "pos", "attn")
                .addLayer("ln2", new LayerNorm.Builder().build(), "res1")
                .addLayer("ffn", new DenseFeedForward.Builder().dFf(4 * D).activation(FfnActivation.GELU).build(),
                        "ln2")
                .addVertex("res2", new ElementWiseVertex(ElementWiseVertex.Op.Add), "res1", "ffn")
                .addLayer("out", new RnnOutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(VOCAB)
                        .activation(Activation.SOFTMAX).build(), "res2")
                .setOutputs("out")
                .setInputTypes(InputType.recurrent(VOCAB, T))
                .build();
        ComputationGraph graph = new ComputationGraph(conf);
        graph.init();
        return graph;
    }

    /**
     * Random token ids {@code [mb, 1, T]}; labels one-hot {@code [mb, VOCAB, T]} of the previous token (the token
     * itself at step 0); the last sequence is padded after three steps (features and labels masked).
     */
    static MultiDataSet previousTokenTask(long seed) {
        Random random = new Random(seed);
        INDArray tokens = Nd4j.create(DataType.FLOAT, MB, 1, T);
        INDArray labels = Nd4j.zeros(DataType.FLOAT, MB, VOCAB, T);
        for (int b = 0; b < MB; b++) {
            int previous = -1;
            for (int t = 0; t < T; t++) {
                int token = random.nextInt(VOCAB);
                tokens.putScalar(new long[] {b, 0, t}, token);
                labels.putScalar(new long[] {b, previous < 0 ? token : previous, t}, 1.0);
                previous = token;
            }
        }
        INDArray mask = Nd4j.ones(DataType.FLOAT, MB, T);
        mask.get(NDArrayIndex.point(MB - 1), NDArrayIndex.interval(3, T)).assign(0);
        return new MultiDataSet(new INDArray[] {tokens}, new INDArray[] {labels}, new INDArray[] {mask},
                new INDArray[] {mask});
    }

    @Test
    void learnsToCopyThePreviousTokenOnHeldOutSequences() {
        ComputationGraph graph = transformerBlock();
        MultiDataSet heldOut = previousTokenTask(-1);
        double before = graph.score(heldOut);
        for (int i = 0; i < STEPS; i++) {
            graph.fit(previousTokenTask(i)); // fresh sequences each step: the block cannot memorise them
        }
        double after = graph.score(heldOut);
        assertTrue(after < 0.5 * before, "held-out score should fall by half: " + before + " -> " + after);
        assertTrue(after < tokenWiseBest(heldOut), "attention must beat the best token-wise guess "
                + tokenWiseBest(heldOut) + ", got " + after);
        assertEquals(MB, graph.outputSingle(heldOut.getFeatures(0)).size(0));
    }

    /** Score of uniform guessing at the unmasked steps t >= 1 (step 0 is predictable without attention). */
    private static double tokenWiseBest(MultiDataSet data) {
        INDArray mask = data.getLabelsMaskArray(0);
        double guessed = mask.get(NDArrayIndex.all(), NDArrayIndex.interval(1, T)).sumNumber().doubleValue();
        return guessed * Math.log(VOCAB) / MB;
    }
}
