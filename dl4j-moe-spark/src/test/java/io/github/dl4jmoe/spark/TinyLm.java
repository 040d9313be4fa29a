package io.github.dl4jmoe.spark;

import io.github.dl4jmoe.layers.PeerLayer;
import io.github.dl4jmoe.zoo.FeedForwardKind;
import io.github.dl4jmoe.zoo.MoETransformerLM;
import io.github.dl4jmoe.zoo.data.CharacterVocabulary;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.learning.config.Adam;

/** A MoETransformerLM small enough for Spark tests: block 0 top-p MoE, block 1 PEER with 64 experts. */
public final class TinyLm {

    public static final String TEXT = "to be, or not to be, that is the question: whether 'tis nobler in the mind "
            + "to suffer the slings and arrows of outrageous fortune. ";
    public static final CharacterVocabulary VOCABULARY = CharacterVocabulary.of(TEXT);
    public static final int CONTEXT = 8;
    public static final int D_MODEL = 16;
    /** Name of the top-p block's feed-forward layer (MoETransformerLM's naming). */
    public static final String TOP_P_LAYER = "block0-ffn";
    public static final String PEER_LAYER = "block1-ffn";

    private TinyLm() {
    }

    public static ComputationGraph network(long seed) {
        return MoETransformerLM.builder().vocabularySize(VOCABULARY.size()).contextLength(CONTEXT).dModel(D_MODEL)
                .layers(2).heads(2).feedForward(FeedForwardKind.MOE_TOPP, FeedForwardKind.PEER)
                .feedForwardLayer(1, new PeerLayer.Builder().nIn(D_MODEL).nOut(D_MODEL).numExperts(64).heads(2)
                        .topK(4).keySize(8).build())
                .updater(new Adam(1e-2)).seed(seed).build().init();
    }

    /** {@code copies} repetitions of {@link #TEXT}. */
    public static String text(int copies) {
        return TEXT.repeat(copies);
    }
}
