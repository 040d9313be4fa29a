package io.github.dl4jmoe.zoo;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Random;

import io.github.dl4jmoe.zoo.data.CharacterVocabulary;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * A trained {@link MoETransformerLM} network with the vocabulary it was trained on: saving and loading (one
 * {@code ModelSerializer} zip, the vocabulary stored inside it), validation loss and sampling.
 *
 * @param network       input character indices {@code [mb, T]}, output probabilities {@code [mb, V, T]}
 * @param vocabulary    maps characters to the network's indices
 * @param contextLength the longest input the network accepts
 */
public record CharLanguageModel(ComputationGraph network, CharacterVocabulary vocabulary, int contextLength) {

    /** Classpath resource of the pretrained Shakespeare model. */
    public static final String PRETRAINED_RESOURCE = "/io/github/dl4jmoe/zoo/shakespeare-lm.zip";
    /**
     * Mean per-character cross-entropy (nats) of the pretrained model on the whole validation split of the bundled
     * text ({@link io.github.dl4jmoe.zoo.data.CharacterIterator} defaults: the last 10%, windows of
     * {@link #PRETRAINED_EVAL_LENGTH}), measured when it was trained and checked by a test. A uniform guess over its
     * 65 characters scores ln 65 = 4.17.
     */
    public static final double PRETRAINED_VALIDATION_LOSS = 2.4456;
    /** Window length of the stated validation loss. */
    public static final int PRETRAINED_EVAL_LENGTH = 64;

    private static final String VOCABULARY_ENTRY = "vocabulary";
    private static final String CONTEXT_ENTRY = "contextLength";
    private static final double MIN_PROBABILITY = 1e-30;

    public CharLanguageModel {
        if (network.getNumInputArrays() != 1 || network.getNumOutputArrays() != 1) {
            throw new IllegalArgumentException("CharLanguageModel: the network must have one input and one output, got "
                    + network.getNumInputArrays() + " and " + network.getNumOutputArrays()
                    + " (build it with MoETransformerLM)");
        }
        if (contextLength < 1) {
            throw new IllegalArgumentException("CharLanguageModel: contextLength must be at least 1, got "
                    + contextLength);
        }
    }

    /** The pretrained Shakespeare model, read from the classpath (no network access). */
    public static CharLanguageModel pretrained() throws IOException {
        try (InputStream in = CharLanguageModel.class.getResourceAsStream(PRETRAINED_RESOURCE)) {
            if (in == null) {
                throw new IOException("CharLanguageModel: resource " + PRETRAINED_RESOURCE
                        + " is missing from the classpath (is dl4j-moe-zoo's jar complete?)");
            }
            Path tmp = Files.createTempFile("dl4j-moe-pretrained", ".zip");
            try {
                Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
                return load(tmp);
            } finally {
                Files.deleteIfExists(tmp);
            }
        }
    }

    /** Loads a model written by {@link #save}. */
    public static CharLanguageModel load(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new NoSuchFileException(file.toString(), null,
                    "no saved model here (train one with the examples' train command)");
        }
        ComputationGraph net = ModelSerializer.restoreComputationGraph(file.toFile(), true);
        String characters = ModelSerializer.getObjectFromFile(file.toFile(), VOCABULARY_ENTRY);
        Integer context = ModelSerializer.getObjectFromFile(file.toFile(), CONTEXT_ENTRY);
        return new CharLanguageModel(net, CharacterVocabulary.fromCharacters(characters), context);
    }

    /**
     * Writes the network, the vocabulary and the context length.
     *
     * @param saveUpdater also the updater state (Adam's moments), so that training can resume exactly
     */
    public void save(Path file, boolean saveUpdater) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        ModelSerializer.writeModel(network, file.toFile(), saveUpdater);
        ModelSerializer.addObjectToFile(file.toFile(), VOCABULARY_ENTRY, vocabulary.characters());
        ModelSerializer.addObjectToFile(file.toFile(), CONTEXT_ENTRY, contextLength);
    }

    /**
     * Mean cross-entropy per predicted character (nats) over the unmasked steps of every batch; resets the iterator
     * first. The iterator must yield index features, as {@code CharacterIterator} does by default.
     */
    public double validationLoss(DataSetIterator data) {
        data.reset();
        double sum = 0;
        double count = 0;
        while (data.hasNext()) {
            DataSet ds = data.next();
            INDArray mask = ds.getLabelsMaskArray() != null ? ds.getLabelsMaskArray()
                    : Nd4j.ones(DataType.FLOAT, ds.getLabels().size(0), ds.getLabels().size(2));
            INDArray probabilities = network.output(false, new INDArray[] {ds.getFeatures()},
                    new INDArray[] {ds.getFeaturesMaskArray()}, new INDArray[] {ds.getLabelsMaskArray()})[0];
            INDArray logLikelihood = Transforms
                    .log(Transforms.max(probabilities.castTo(DataType.DOUBLE), MIN_PROBABILITY))
                    .muli(ds.getLabels().castTo(DataType.DOUBLE)).sum(1);                      // [mb, T]
            INDArray m = mask.castTo(DataType.DOUBLE);
            sum -= logLikelihood.muli(m).sumNumber().doubleValue();
            count += m.sumNumber().doubleValue();
        }
        if (count == 0) {
            throw new IllegalArgumentException("CharLanguageModel: the iterator yielded no unmasked steps");
        }
        return sum / count;
    }

    /**
     * Continues {@code prompt} by {@code length} characters, each drawn from the model's distribution at
     * {@code temperature} given up to {@link #contextLength} preceding characters.
     *
     * @param temperature above 0; 1 samples the model as trained, lower is more conservative
     */
    public String sample(String prompt, int length, double temperature, long seed) {
        if (prompt == null || prompt.isEmpty()) {
            throw new IllegalArgumentException("CharLanguageModel: prompt must not be empty (try \"ROMEO:\")");
        }
        if (length < 0) {
            throw new IllegalArgumentException("CharLanguageModel: length must be >= 0, got " + length);
        }
        if (!(temperature > 0)) {
            throw new IllegalArgumentException("CharLanguageModel: temperature must be > 0, got " + temperature
                    + " (try 0.8)");
        }
        int[] tokens = new int[prompt.length() + length];
        for (int i = 0; i < prompt.length(); i++) {
            tokens[i] = vocabulary.indexOf(prompt.charAt(i));
        }
        Random random = new Random(seed);
        StringBuilder out = new StringBuilder(prompt);
        for (int n = prompt.length(); n < tokens.length; n++) {
            int start = Math.max(0, n - contextLength);
            INDArray input = Nd4j.create(DataType.FLOAT, 1, n - start);
            for (int i = start; i < n; i++) {
                input.putScalar(0, i - start, tokens[i]);
            }
            INDArray last = network.outputSingle(input).get(NDArrayIndex.point(0), NDArrayIndex.all(),
                    NDArrayIndex.point(n - start - 1));                                        // [V]
            tokens[n] = draw(last.toDoubleVector(), temperature, random);
            out.append(vocabulary.charAt(tokens[n]));
        }
        return out.toString();
    }

    /** Draws an index from probabilities sharpened or flattened to {@code p^(1/temperature)}, in log space. */
    static int draw(double[] probabilities, double temperature, Random random) {
        double[] w = new double[probabilities.length];
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < w.length; i++) {
            w[i] = Math.log(Math.max(probabilities[i], MIN_PROBABILITY)) / temperature;
            max = Math.max(max, w[i]);
        }
        double total = 0;
        for (int i = 0; i < w.length; i++) {
            w[i] = Math.exp(w[i] - max);
            total += w[i];
        }
        double u = random.nextDouble() * total;
        for (int i = 0; i < w.length; i++) {
            u -= w[i];
            if (u < 0) {
                return i;
            }
        }
        return w.length - 1;
    }
}
