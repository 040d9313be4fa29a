package io.github.dl4jmoe.zoo;

import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;

import io.github.dl4jmoe.runtime.ModelLayers;
import io.github.dl4jmoe.runtime.MoeLayerRuntime;
import io.github.dl4jmoe.zoo.checkpoint.AtomicFiles;
import io.github.dl4jmoe.zoo.checkpoint.TrainingState;
import io.github.dl4jmoe.zoo.data.CharacterVocabulary;
import org.deeplearning4j.nn.api.Layer;
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
 * A trained {@link MoETransformerLM} network with the vocabulary it was trained on: saving and loading, validation
 * loss and sampling.
 *
 * <p>The file is a {@code ModelSerializer} zip with more entries: the vocabulary and context length (as
 * {@code ModelSerializer.addObjectToFile} stores objects), the training state layers keep outside DL4J's updater
 * state (PEER's sparse Adam moments, {@value #HOST_STATE_PREFIX}LAYER/NAME, with the updater state only), and for a
 * checkpoint the run's {@link TrainingState} ({@value #TRAINING_STATE_ENTRY}). It is written in one pass to a
 * temporary file and renamed over the target ({@link AtomicFiles}), so a crash never leaves a partial model.
 *
 * @param network       input character indices {@code [mb, T]}, output probabilities {@code [mb, V, T]}
 * @param vocabulary    maps characters to the network's indices
 * @param contextLength the longest input the network accepts
 */
public record CharLanguageModel(ComputationGraph network, CharacterVocabulary vocabulary, int contextLength) {

    /** Zip entries of the layers' training state outside DL4J's updater: this prefix, layer name, '/', name. */
    public static final String HOST_STATE_PREFIX = "dl4j-moe/host-state/";
    /** Zip entry of a checkpoint's {@link TrainingState}. */
    public static final String TRAINING_STATE_ENTRY = "dl4j-moe/training-state.properties";
    private static final String VOCABULARY_ENTRY = "vocabulary";
    private static final String CONTEXT_ENTRY = "contextLength";
    /** Where {@code ModelSerializer.addObjectToFile} puts objects, which {@code getObjectFromFile} reads. */
    private static final String OBJECTS_PREFIX = "objects/";
    /** Suffix of the plain {@code ModelSerializer} zip written first, beside the temporary target. */
    private static final String MODEL_PART = ".model";
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

    /**
     * The pretrained Shakespeare model with top-p MoE blocks, read from the classpath (no network access); see
     * {@link PretrainedLanguageModel} for it, its figures and the other pretrained models.
     */
    public static CharLanguageModel pretrained() throws IOException {
        return PretrainedLanguageModel.MOE_TOPP.load();
    }

    /**
     * Loads a model written by {@link #save}, with the layers' training state if it was saved (so that training
     * continues exactly; see {@link #trainingState} for the run's position).
     */
    public static CharLanguageModel load(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new NoSuchFileException(file.toString(), null,
                    "no saved model here (train one with the examples' train command)");
        }
        ComputationGraph net = ModelSerializer.restoreComputationGraph(file.toFile(), true);
        String characters = ModelSerializer.getObjectFromFile(file.toFile(), VOCABULARY_ENTRY);
        Integer context = ModelSerializer.getObjectFromFile(file.toFile(), CONTEXT_ENTRY);
        restoreHostState(file, net);
        return new CharLanguageModel(net, CharacterVocabulary.fromCharacters(characters), context);
    }

    /** The training state a checkpoint holds; empty for a model saved without one (older files, the pretrained). */
    public static Optional<TrainingState> trainingState(Path file) throws IOException {
        try (ZipFile zip = new ZipFile(file.toFile())) {
            ZipEntry entry = zip.getEntry(TRAINING_STATE_ENTRY);
            if (entry == null) {
                return Optional.empty();
            }
            try (InputStream in = zip.getInputStream(entry)) {
                return Optional.of(TrainingState.fromText(new String(in.readAllBytes(), StandardCharsets.ISO_8859_1),
                        file.toString()));
            }
        }
    }

    /**
     * Writes the network, the vocabulary and the context length, atomically.
     *
     * @param saveUpdater also the updater state (Adam's moments, PEER's sparse ones too), so that training can
     *                    resume exactly
     */
    public void save(Path file, boolean saveUpdater) throws IOException {
        save(file, saveUpdater, null);
    }

    /**
     * Writes the model as {@link #save(Path, boolean)} does, with a training run's state (a checkpoint).
     *
     * @param state null for none
     */
    public void save(Path file, boolean saveUpdater, TrainingState state) throws IOException {
        Map<String, Serializable> objects = new LinkedHashMap<>();
        objects.put(VOCABULARY_ENTRY, vocabulary.characters());
        objects.put(CONTEXT_ENTRY, contextLength);
        Map<String, byte[]> entries = new LinkedHashMap<>();
        if (saveUpdater) {
            for (Layer layer : ModelLayers.of(network)) {
                if (layer instanceof MoeLayerRuntime runtime) {
                    for (Map.Entry<String, INDArray> array : runtime.hostTrainingState().entrySet()) {
                        entries.put(HOST_STATE_PREFIX + ModelLayers.name(layer) + "/" + array.getKey(),
                                Nd4j.toByteArray(array.getValue()));
                    }
                }
            }
        }
        if (state != null) {
            entries.put(TRAINING_STATE_ENTRY, state.toText().getBytes(StandardCharsets.ISO_8859_1));
        }
        AtomicFiles.write(file, temp -> {
            Path model = temp.resolveSibling(temp.getFileName() + MODEL_PART);
            try {
                ModelSerializer.writeModel(network, model.toFile(), saveUpdater);
                try (ZipFile in = new ZipFile(model.toFile());
                     ZipOutputStream out = new ZipOutputStream(new BufferedOutputStream(Files.newOutputStream(temp)))) {
                    for (Enumeration<? extends ZipEntry> e = in.entries(); e.hasMoreElements();) {
                        ZipEntry entry = e.nextElement();
                        try (InputStream data = in.getInputStream(entry)) {
                            put(out, entry.getName(), data.readAllBytes());
                        }
                    }
                    for (Map.Entry<String, Serializable> o : objects.entrySet()) {
                        put(out, OBJECTS_PREFIX + o.getKey(), serialize(o.getValue()));
                    }
                    for (Map.Entry<String, byte[]> entry : entries.entrySet()) {
                        put(out, entry.getKey(), entry.getValue());
                    }
                }
            } finally {
                Files.deleteIfExists(model);
            }
        });
    }

    private static void put(ZipOutputStream out, String name, byte[] data) throws IOException {
        out.putNextEntry(new ZipEntry(name));
        out.write(data);
        out.closeEntry();
    }

    /** As {@code ModelSerializer.addObjectToFile} stores an object, so that {@code getObjectFromFile} reads it. */
    private static byte[] serialize(Serializable object) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(object);
        }
        return bytes.toByteArray();
    }

    /** Gives each layer the training state saved for it under {@link #HOST_STATE_PREFIX}. */
    private static void restoreHostState(Path file, ComputationGraph net) throws IOException {
        Map<String, Map<String, INDArray>> byLayer = new LinkedHashMap<>();
        try (ZipFile zip = new ZipFile(file.toFile())) {
            for (Enumeration<? extends ZipEntry> e = zip.entries(); e.hasMoreElements();) {
                ZipEntry entry = e.nextElement();
                String name = entry.getName();
                if (!name.startsWith(HOST_STATE_PREFIX)) {
                    continue;
                }
                int slash = name.lastIndexOf('/');
                try (InputStream in = zip.getInputStream(entry)) {
                    byLayer.computeIfAbsent(name.substring(HOST_STATE_PREFIX.length(), slash),
                            k -> new LinkedHashMap<>()).put(name.substring(slash + 1),
                            Nd4j.fromByteArray(in.readAllBytes()));
                }
            }
        }
        Map<String, Layer> layers = ModelLayers.byName(net);
        for (Map.Entry<String, Map<String, INDArray>> saved : byLayer.entrySet()) {
            if (!(layers.get(saved.getKey()) instanceof MoeLayerRuntime runtime)) {
                throw new IOException(file + ": training state saved for layer " + saved.getKey()
                        + ", which the model has not (the file is damaged)");
            }
            runtime.restoreHostTrainingState(saved.getValue());
        }
    }

    /**
     * Mean cross-entropy per predicted character (nats) over the unmasked steps of every batch; resets the iterator
     * first. The iterator must yield index features, as {@code CharacterIterator} does by default.
     */
    public double validationLoss(DataSetIterator data) {
        data.reset();
        LossSum total = LossSum.NONE;
        while (data.hasNext()) {
            total = total.plus(loss(data.next()));
        }
        if (total.characters() == 0) {
            throw new IllegalArgumentException("CharLanguageModel: the iterator yielded no unmasked steps");
        }
        return total.mean();
    }

    /** The summed cross-entropy of one batch's unmasked steps (inference). */
    LossSum loss(DataSet ds) {
        INDArray mask = ds.getLabelsMaskArray() != null ? ds.getLabelsMaskArray()
                : Nd4j.ones(DataType.FLOAT, ds.getLabels().size(0), ds.getLabels().size(2));
        INDArray probabilities = network.output(false, new INDArray[] {ds.getFeatures()},
                new INDArray[] {ds.getFeaturesMaskArray()}, new INDArray[] {ds.getLabelsMaskArray()})[0];
        INDArray logLikelihood = Transforms
                .log(Transforms.max(probabilities.castTo(DataType.DOUBLE), MIN_PROBABILITY))
                .muli(ds.getLabels().castTo(DataType.DOUBLE)).sum(1);                      // [mb, T]
        INDArray m = mask.castTo(DataType.DOUBLE);
        return new LossSum(-logLikelihood.muli(m).sumNumber().doubleValue(), m.sumNumber().doubleValue());
    }

    /** Cross-entropy summed over characters. */
    record LossSum(double nats, double characters) {
        static final LossSum NONE = new LossSum(0, 0);

        LossSum plus(LossSum other) {
            return new LossSum(nats + other.nats, characters + other.characters);
        }

        double mean() {
            return nats / characters;
        }
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
