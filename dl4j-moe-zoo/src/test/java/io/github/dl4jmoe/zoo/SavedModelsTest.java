package io.github.dl4jmoe.zoo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;

import io.github.dl4jmoe.layers.DenseFeedForward;
import io.github.dl4jmoe.layers.FfnActivation;
import io.github.dl4jmoe.layers.FineRMoeLayer;
import io.github.dl4jmoe.layers.MoeFeedForward;
import io.github.dl4jmoe.layers.PeerLayer;
import io.github.dl4jmoe.routing.TopKRouter;
import io.github.dl4jmoe.routing.TopPRouter;
import io.github.dl4jmoe.zoo.data.CharacterIterator;
import io.github.dl4jmoe.zoo.data.CharacterVocabulary;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * Models saved by earlier code keep loading and computing the same outputs. The files under {@code saved/} were
 * written by {@link #writeSavedModels} with the code of commit adf36aa (before the layout change of issue 13): a
 * {@code MultiLayerNetwork} holding every token-wise layer kind (double precision, trained a few Adam steps so that
 * parameters, Adam state and PEER's running statistics are not at their initial values) and a
 * {@code MoETransformerLM} with top-p MoE, PEER and FineRMoE blocks (float). Next to each model: its input and the
 * output and score the code of that day computed.
 *
 * <p>Do not regenerate these files to make a test pass: they are the record of what older code computed.
 */
class SavedModelsTest {

    private static final String DIR = "/io/github/dl4jmoe/zoo/saved/";
    private static final String TEXT = "the quick brown fox jumps over the lazy dog. ".repeat(12);
    private static final int T = 8;

    @Test
    void everyLayerKindInAMultiLayerNetworkLoadsWithIdenticalOutputs() throws IOException {
        MultiLayerNetwork net;
        try (InputStream in = resource("every-layer-mln.zip")) {
            net = ModelSerializer.restoreMultiLayerNetwork(in, true);
        }
        INDArray[] saved = readArrays("every-layer-mln.arrays");
        INDArray output = net.output(saved[0]);
        assertEquals(0, maxAbsDifference(saved[2], output), 1e-12, "inference output");
        assertEquals(saved[3].getDouble(0), net.score(new DataSet(saved[0], saved[1])), 1e-12, "score");
    }

    @Test
    void aTransformerLanguageModelLoadsWithIdenticalOutputs() throws IOException {
        ComputationGraph net;
        try (InputStream in = resource("moe-transformer-lm.zip")) {
            net = ModelSerializer.restoreComputationGraph(in, true);
        }
        INDArray[] saved = readArrays("moe-transformer-lm.arrays");
        INDArray output = net.outputSingle(saved[0]);
        assertEquals(0, maxAbsDifference(saved[2], output), 1e-6, "inference output");
        assertEquals(saved[3].getDouble(0), net.score(new DataSet(saved[0], saved[1])), 1e-6, "score");
    }

    /** Writes the saved models and their arrays into the folder named by the property (run once, see above). */
    @Test
    @EnabledIfSystemProperty(named = "dl4jmoe.writeSavedModels", matches = ".+")
    void writeSavedModels() throws IOException {
        Path dir = Path.of(System.getProperty("dl4jmoe.writeSavedModels"));
        Files.createDirectories(dir);

        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
        MultiLayerNetwork mln = everyLayerNetwork();
        INDArray x = Nd4j.rand(DataType.DOUBLE, 24, 12).subi(0.5);
        INDArray y = Nd4j.rand(DataType.DOUBLE, 24, 5);
        DataSet batch = new DataSet(x, y);
        for (int i = 0; i < 5; i++) {
            mln.fit(batch);
        }
        ModelSerializer.writeModel(mln, dir.resolve("every-layer-mln.zip").toFile(), true);
        writeArrays(dir.resolve("every-layer-mln.arrays"), x, y, mln.output(x),
                Nd4j.scalar(mln.score(batch)));

        Nd4j.setDefaultDataTypes(DataType.FLOAT, DataType.FLOAT);
        CharacterVocabulary vocabulary = CharacterVocabulary.of(TEXT);
        ComputationGraph lm = MoETransformerLM.builder().vocabularySize(vocabulary.size()).contextLength(T).dModel(16)
                .heads(2).layers(3).feedForward(FeedForwardKind.MOE_TOPP, FeedForwardKind.PEER,
                        FeedForwardKind.FINER_MOE).build().init();
        DataSet text = CharacterIterator.builder().text(TEXT).vocabulary(vocabulary).sequenceLength(T).batchSize(6)
                .build().next();
        for (int i = 0; i < 5; i++) {
            lm.fit(text);
        }
        ModelSerializer.writeModel(lm, dir.resolve("moe-transformer-lm.zip").toFile(), true);
        writeArrays(dir.resolve("moe-transformer-lm.arrays"), text.getFeatures(), text.getLabels(),
                lm.outputSingle(text.getFeatures()), Nd4j.scalar(lm.score(text)));
    }

    /** Dense projection, then every token-wise layer kind with its options on, then a regression head. */
    private static MultiLayerNetwork everyLayerNetwork() {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(7).dataType(DataType.DOUBLE)
                .updater(new Adam(1e-2)).list()
                .layer(new DenseLayer.Builder().nOut(16).activation(Activation.TANH).build())
                .layer(new DenseFeedForward.Builder().dFf(24).activation(FfnActivation.SWIGLU).build())
                .layer(new MoeFeedForward.Builder().numExperts(4).expertHidden(8).router(new TopKRouter(2, true))
                        .numSharedExperts(1).sharedHidden(8).sharedGate(true).zLossCoefficient(1e-3)
                        .capacityFactor(1.25).build())
                .layer(new MoeFeedForward.Builder().numExperts(6).expertHidden(8).activation(FfnActivation.GELU)
                        .router(new TopPRouter(0.4)).build())
                .layer(new FineRMoeLayer.Builder().dFf(32).inputGranularity(4).outputGranularity(2)
                        .outputExpansion(2).concatProjection(true).sharedHidden(16).sharedGate(true).build())
                .layer(new PeerLayer.Builder().numExperts(16).heads(2).topK(2).keySize(4).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(5)
                        .activation(Activation.IDENTITY).build())
                .setInputType(InputType.feedForward(12))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    private static double maxAbsDifference(INDArray expected, INDArray actual) {
        assertTrue(java.util.Arrays.equals(expected.shape(), actual.shape()), "shape");
        return expected.castTo(DataType.DOUBLE).sub(actual.castTo(DataType.DOUBLE)).amaxNumber().doubleValue();
    }

    private static InputStream resource(String name) {
        return Objects.requireNonNull(SavedModelsTest.class.getResourceAsStream(DIR + name), name);
    }

    private static INDArray[] readArrays(String name) throws IOException {
        try (DataInputStream in = new DataInputStream(resource(name))) {
            INDArray[] arrays = new INDArray[in.readInt()];
            for (int i = 0; i < arrays.length; i++) {
                arrays[i] = Nd4j.read(in);
            }
            return arrays;
        }
    }

    private static void writeArrays(Path file, INDArray... arrays) throws IOException {
        try (DataOutputStream out = new DataOutputStream(Files.newOutputStream(file))) {
            out.writeInt(arrays.length);
            for (INDArray a : arrays) {
                Nd4j.write(a, out);
            }
        }
    }
}
