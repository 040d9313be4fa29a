package io.github.dl4jmoe.zoo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Random;

import io.github.dl4jmoe.layers.PeerLayer;
import io.github.dl4jmoe.zoo.data.CharacterIterator;
import io.github.dl4jmoe.zoo.data.CharacterVocabulary;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

class MoETransformerLMTest {

    private static final String TEXT = "the quick brown fox jumps over the lazy dog. ".repeat(12);
    private static final int T = 8;

    private static CharacterIterator data(CharacterVocabulary vocabulary) {
        return CharacterIterator.builder().text(TEXT).vocabulary(vocabulary).sequenceLength(T).batchSize(4).build();
    }

    private static MoETransformerLM.Builder tiny(int vocabulary) {
        return MoETransformerLM.builder().vocabularySize(vocabulary).contextLength(T).dModel(8).heads(2).layers(1);
    }

    @ParameterizedTest
    @EnumSource(FeedForwardKind.class)
    void everyKindFitsHasTheRightShapesAndSurvivesModelSerializer(FeedForwardKind kind) throws IOException {
        CharacterVocabulary vocabulary = CharacterVocabulary.of(TEXT);
        ComputationGraph net = tiny(vocabulary.size()).feedForward(kind).build().init();
        CharacterIterator it = data(vocabulary);
        DataSet batch = it.next();
        double before = net.score(batch);
        for (int i = 0; i < 15; i++) {
            net.fit(batch);
        }
        assertTrue(net.score(batch) < before, kind + ": score " + before + " -> " + net.score(batch));

        INDArray out = net.outputSingle(batch.getFeatures());
        assertArrayEquals(new long[] {4, vocabulary.size(), T}, out.shape());
        assertEquals(1.0, out.sum(1).meanNumber().doubleValue(), 1e-5, "probabilities over the vocabulary");

        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ModelSerializer.writeModel(net, bytes, true);
        ComputationGraph restored = ModelSerializer.restoreComputationGraph(
                new ByteArrayInputStream(bytes.toByteArray()), true);
        assertEquals(out, restored.outputSingle(batch.getFeatures()));
        assertEquals(net.getConfiguration(), restored.getConfiguration());
    }

    @Test
    void thePredictionAtAStepDependsOnlyOnEarlierCharacters() {
        ComputationGraph net = tiny(10).layers(2).feedForward(FeedForwardKind.DENSE).build().init();
        INDArray x = Nd4j.createFromArray(new float[][] {{1, 2, 3, 4, 5, 6, 7, 8}});
        INDArray changed = x.dup();
        changed.putScalar(0, 5, 0);                                     // step 5 differs
        INDArray a = net.outputSingle(x);
        INDArray b = net.outputSingle(changed);
        INDArray early = a.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(0, 5));
        assertEquals(early, b.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(0, 5)));
        assertNotEquals(a.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(5)),
                b.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(5)));
        // a prefix alone gives the same predictions: the model accepts inputs shorter than its context
        INDArray prefix = net.outputSingle(x.get(NDArrayIndex.all(), NDArrayIndex.interval(0, 3)));
        assertTrue(prefix.equalsWithEps(a.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(0, 3)),
                1e-5));
    }

    @Test
    void blocksMixKindsAndConfiguredLayers() {
        PeerLayer peer = new PeerLayer.Builder().numExperts(16).heads(1).topK(2).keySize(4).build();
        ComputationGraph net = tiny(10).layers(2).feedForward(FeedForwardKind.MOE_TOPK, FeedForwardKind.FINER_MOE)
                .feedForwardLayer(1, peer).build().init();
        assertEquals("MoeFeedForward", net.getLayer("block0-ffn").conf().getLayer().getClass().getSimpleName());
        PeerLayer used = (PeerLayer) net.getLayer("block1-ffn").conf().getLayer();
        assertEquals(16, used.getNumExperts());
        assertEquals(8, used.getNIn());
    }

    @Test
    void savedModelsKeepTheirVocabularyAndSampleReproducibly(@TempDir Path dir) throws IOException {
        CharacterVocabulary vocabulary = CharacterVocabulary.of(TEXT);
        CharLanguageModel lm = new CharLanguageModel(tiny(vocabulary.size()).feedForward(FeedForwardKind.DENSE)
                .build().init(), vocabulary, T);
        CharacterIterator it = data(vocabulary);
        for (int i = 0; i < 5; i++) {
            lm.network().fit(it.next());
        }
        Path file = dir.resolve("lm.zip");
        lm.save(file, true);
        CharLanguageModel loaded = CharLanguageModel.load(file);
        assertEquals(vocabulary, loaded.vocabulary());
        assertEquals(T, loaded.contextLength());
        assertEquals(lm.network().params(), loaded.network().params());
        String sample = loaded.sample("the ", 20, 0.8, 7);
        assertEquals(24, sample.length());
        assertTrue(sample.startsWith("the "));
        assertEquals(sample, lm.sample("the ", 20, 0.8, 7));
        assertEquals(lm.validationLoss(data(vocabulary)), loaded.validationLoss(data(vocabulary)), 1e-6);
    }

    @Test
    void validationLossIsTheMeanCrossEntropyOfUnmaskedCharacters() {
        CharacterVocabulary vocabulary = CharacterVocabulary.of(TEXT);
        CharLanguageModel lm = new CharLanguageModel(tiny(vocabulary.size()).feedForward(FeedForwardKind.DENSE)
                .build().init(), vocabulary, T);
        CharacterIterator it = data(vocabulary);
        double sum = 0;
        int count = 0;
        while (it.hasNext()) {
            DataSet ds = it.next();
            INDArray p = lm.network().outputSingle(ds.getFeatures());
            for (int i = 0; i < ds.numExamples(); i++) {
                for (int t = 0; t < T; t++) {
                    if (ds.getLabelsMaskArray().getDouble(i, t) == 1) {
                        int label = ds.getLabels().get(NDArrayIndex.point(i), NDArrayIndex.all(), NDArrayIndex.point(t))
                                .argMax().getInt(0);
                        sum -= Math.log(p.getDouble(i, label, t));
                        count++;
                    }
                }
            }
        }
        assertEquals(sum / count, lm.validationLoss(it), 1e-5);
        assertEquals(Math.log(vocabulary.size()), lm.validationLoss(it), 1.0, "an untrained model is near uniform");
    }

    @Test
    void temperatureSharpensOrFlattensTheDistribution() {
        double[] p = {0.7, 0.2, 0.1};
        int[] cold = new int[3];
        int[] hot = new int[3];
        Random random = new Random(1);
        for (int i = 0; i < 2000; i++) {
            cold[CharLanguageModel.draw(p, 0.2, random)]++;
            hot[CharLanguageModel.draw(p, 5.0, random)]++;
        }
        assertTrue(cold[0] > 1950, "near-greedy at low temperature: " + cold[0]);
        assertTrue(hot[2] > 450, "near-uniform at high temperature: " + hot[2]);
    }

    @Test
    void invalidArgumentsAreRejectedWithTheFix() {
        MoEClassifierTest.assertMessage("MoETransformerLM: heads must divide dModel = 10, got 4 (try heads(2))",
                () -> MoETransformerLM.builder().vocabularySize(5).dModel(10).heads(4).build());
        MoEClassifierTest.assertMessage("MoETransformerLM: vocabularySize must be at least 2, got 0 "
                + "(use CharacterVocabulary.size() of your text)", () -> MoETransformerLM.builder().build());
        MoEClassifierTest.assertMessage("MoETransformerLM: feedForward must name one kind per block (2), got [DENSE, "
                + "PEER, DENSE] (pass 2 kinds or a single one)", () -> MoETransformerLM.builder().vocabularySize(5)
                .feedForward(FeedForwardKind.DENSE, FeedForwardKind.PEER, FeedForwardKind.DENSE).build());
        MoEClassifierTest.assertMessage("MoETransformerLM: contextLength must be at least 1, got 0 (the default is 64)",
                () -> MoETransformerLM.builder().vocabularySize(5).contextLength(0).build());
        String odd = assertThrows(IllegalArgumentException.class, () -> MoETransformerLM.builder().vocabularySize(5)
                .dModel(9).heads(3).feedForward(FeedForwardKind.DENSE, FeedForwardKind.FINER_MOE).build()).getMessage();
        assertTrue(odd.startsWith("MoETransformerLM: feedForward[1] must fit the model width 9 [FineRMoeLayer")
                && odd.contains("nOut must be a multiple of outputGranularity = 2"), odd);
        CharLanguageModel lm = new CharLanguageModel(tiny(10).feedForward(FeedForwardKind.DENSE).build().init(),
                CharacterVocabulary.fromCharacters("abcdefghij"), T);
        assertThrows(IllegalArgumentException.class, () -> lm.sample("xyz", 3, 1, 0));
        MoEClassifierTest.assertMessage("CharLanguageModel: temperature must be > 0, got 0.0 (try 0.8)",
                () -> lm.sample("abc", 3, 0, 0));
        assertThrows(UnsupportedOperationException.class,
                () -> MoETransformerLM.builder().vocabularySize(5).build().initPretrained(
                        org.deeplearning4j.zoo.PretrainedType.IMAGENET));
    }

    @Test
    void doublePrecisionModelsBuild() {
        ComputationGraph net = tiny(6).dataType(DataType.DOUBLE).feedForward(FeedForwardKind.DENSE).build().init();
        assertEquals(DataType.DOUBLE, net.params().dataType());
    }
}
