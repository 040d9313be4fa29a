package io.github.dl4jmoe.zoo.data;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Random;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.DataSetPreProcessor;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Character-level language-model minibatches over a text: consecutive windows of {@code sequenceLength} characters,
 * each labelled with the characters one step later (next-character prediction at every position).
 *
 * <p>The first {@code 1 - validationFraction} of the text is the training split, the rest the validation split, so
 * validation text is never trained on. Each epoch visits every window of its split once (training: in an order
 * shuffled per epoch with the seed; validation: in order). The last window of a split may be shorter; its missing
 * steps are masked out.
 * <ul>
 *   <li>features: character indices {@code [mb, T]} (for {@code EmbeddingSequenceLayer}), or one-hot
 *       {@code [mb, V, T]};</li>
 *   <li>labels: one-hot {@code [mb, V, T]} (for {@code RnnOutputLayer}, softmax and MCXENT);</li>
 *   <li>feature and label masks: {@code [mb, T]}, 1 on real steps.</li>
 * </ul>
 */
public final class CharacterIterator implements DataSetIterator {

    private static final long serialVersionUID = 1L;

    /** Which part of the text an iterator covers. */
    public enum Split {
        TRAIN,
        VALIDATION
    }

    public static final double DEFAULT_VALIDATION_FRACTION = 0.1;

    /**
     * Where an iterator stands: the epochs it started (1 once built: the first epoch's order is drawn then) and the
     * windows of the current epoch already returned. A checkpoint stores it so that resumed training sees the same
     * minibatches as a run that never stopped.
     */
    public record Position(int epoch, int cursor) {
        public Position {
            if (epoch < 1 || cursor < 0) {
                throw new IllegalArgumentException("CharacterIterator.Position: epoch must be >= 1 and cursor >= 0, "
                        + "got epoch " + epoch + ", cursor " + cursor);
            }
        }
    }

    private final String text;
    private final CharacterVocabulary vocabulary;
    private final int sequenceLength;
    private final int batchSize;
    private final boolean oneHotFeatures;
    private final boolean shuffle;
    private final long seed;
    private final int from;
    private final int windows;
    private final int[] order;
    private int cursor;
    private int epoch;
    private DataSetPreProcessor preProcessor;

    private CharacterIterator(Builder b) {
        String all = b.text != null ? b.text : BundledText.TINY_SHAKESPEARE.read();
        require(b.sequenceLength >= 1, "sequenceLength", b.sequenceLength, "must be at least 1", "try 64");
        require(b.batchSize >= 1, "batchSize", b.batchSize, "must be at least 1", "try 32");
        require(b.validationFraction > 0 && b.validationFraction < 1, "validationFraction", b.validationFraction,
                "must be in (0, 1)", "use " + DEFAULT_VALIDATION_FRACTION);
        int split = (int) Math.round(all.length() * (1 - b.validationFraction));
        this.from = b.split == Split.TRAIN ? 0 : split;
        int to = b.split == Split.TRAIN ? split : all.length();
        require(to - from >= 2, "text", all.length() + " characters", "leaves fewer than 2 characters for the "
                + b.split + " split", "use a longer text or another validationFraction");
        this.text = all.substring(from, to);
        this.vocabulary = b.vocabulary != null ? b.vocabulary : CharacterVocabulary.of(all);
        for (int i = 0; i < text.length(); i++) {
            vocabulary.indexOf(text.charAt(i));           // fails early, naming the character
        }
        this.sequenceLength = b.sequenceLength;
        this.batchSize = b.batchSize;
        this.oneHotFeatures = b.oneHotFeatures;
        this.shuffle = b.shuffle != null ? b.shuffle : b.split == Split.TRAIN;
        this.seed = b.seed;
        this.windows = (text.length() - 2) / sequenceLength + 1;    // predictions: text.length() - 1 positions
        this.order = new int[windows];
        reset();
    }

    public static Builder builder() {
        return new Builder();
    }

    public CharacterVocabulary vocabulary() {
        return vocabulary;
    }

    /** Windows per epoch. */
    public int windows() {
        return windows;
    }

    /** Characters of this split. */
    public String text() {
        return text;
    }

    /** Where the iterator stands now. */
    public Position position() {
        return new Position(epoch, cursor);
    }

    /**
     * Continues from {@code position}, taken from an iterator built the same way (text, split, window length,
     * shuffle and seed): the window order of that epoch is drawn again from {@code seed + epoch - 1}.
     */
    public void seek(Position position) {
        if (position.cursor() > windows) {
            throw new IllegalArgumentException("CharacterIterator: position " + position.cursor() + " is past the "
                    + windows + " windows of an epoch (the position belongs to other text or window length)");
        }
        epoch = position.epoch() - 1;
        reset();
        cursor = position.cursor();
    }

    @Override
    public boolean hasNext() {
        return cursor < windows;
    }

    @Override
    public DataSet next() {
        return next(batchSize);
    }

    @Override
    public DataSet next(int num) {
        if (!hasNext()) {
            throw new NoSuchElementException("CharacterIterator: epoch finished after " + windows
                    + " windows; call reset()");
        }
        int mb = Math.min(num, windows - cursor);
        int v = vocabulary.size();
        int t = sequenceLength;
        INDArray features = oneHotFeatures ? Nd4j.zeros(DataType.FLOAT, mb, v, t) : Nd4j.zeros(DataType.FLOAT, mb, t);
        INDArray labels = Nd4j.zeros(DataType.FLOAT, mb, v, t);
        INDArray mask = Nd4j.zeros(DataType.FLOAT, mb, t);
        for (int i = 0; i < mb; i++) {
            int start = order[cursor++] * t;
            int steps = Math.min(t, text.length() - 1 - start);
            for (int s = 0; s < steps; s++) {
                int in = vocabulary.indexOf(text.charAt(start + s));
                int out = vocabulary.indexOf(text.charAt(start + s + 1));
                if (oneHotFeatures) {
                    features.putScalar(new long[] {i, in, s}, 1f);
                } else {
                    features.putScalar(i, s, in);
                }
                labels.putScalar(new long[] {i, out, s}, 1f);
                mask.putScalar(i, s, 1f);
            }
        }
        DataSet ds = new DataSet(features, labels, mask, mask.dup());
        if (preProcessor != null) {
            preProcessor.preProcess(ds);
        }
        return ds;
    }

    @Override
    public int inputColumns() {
        return oneHotFeatures ? vocabulary.size() : 1;
    }

    @Override
    public int totalOutcomes() {
        return vocabulary.size();
    }

    @Override
    public boolean resetSupported() {
        return true;
    }

    @Override
    public boolean asyncSupported() {
        return true;
    }

    /** Starts a new epoch; a shuffling iterator draws a new window order from {@code seed + epoch}. */
    @Override
    public void reset() {
        for (int i = 0; i < windows; i++) {
            order[i] = i;
        }
        if (shuffle) {
            Random random = new Random(seed + epoch);
            for (int i = windows - 1; i > 0; i--) {
                int j = random.nextInt(i + 1);
                int tmp = order[i];
                order[i] = order[j];
                order[j] = tmp;
            }
        }
        epoch++;
        cursor = 0;
    }

    @Override
    public int batch() {
        return batchSize;
    }

    @Override
    public void setPreProcessor(DataSetPreProcessor preProcessor) {
        this.preProcessor = preProcessor;
    }

    @Override
    public DataSetPreProcessor getPreProcessor() {
        return preProcessor;
    }

    @Override
    public List<String> getLabels() {
        return vocabulary.characters().chars().mapToObj(c -> String.valueOf((char) c)).toList();
    }

    private static void require(boolean ok, String field, Object value, String requirement, String fix) {
        if (!ok) {
            throw new IllegalArgumentException("CharacterIterator: " + field + " " + requirement + ", got " + value
                    + " (" + fix + ")");
        }
    }

    /** Defaults: the bundled tiny Shakespeare, training split, 10% validation, index features, seed 42. */
    public static final class Builder {
        private String text;
        private CharacterVocabulary vocabulary;
        private int sequenceLength = 64;
        private int batchSize = 32;
        private Split split = Split.TRAIN;
        private double validationFraction = DEFAULT_VALIDATION_FRACTION;
        private Boolean shuffle;
        private long seed = 42;
        private boolean oneHotFeatures;

        /** The whole text (both splits); default: the bundled tiny Shakespeare. */
        public Builder text(String text) {
            this.text = text;
            return this;
        }

        /**
         * Reads the whole text from a UTF-8 file ({@link Utf8Text}).
         *
         * @throws UncheckedIOException with the message of the read error: a missing file, or bytes that are not UTF-8
         */
        public Builder file(Path file) {
            try {
                this.text = Utf8Text.read(file);
            } catch (IOException e) {
                throw new UncheckedIOException("CharacterIterator: cannot read " + file + ": " + e.getMessage(), e);
            }
            return this;
        }

        /** Default: the characters of the whole text. Pass a model's vocabulary to evaluate it on other text. */
        public Builder vocabulary(CharacterVocabulary vocabulary) {
            this.vocabulary = vocabulary;
            return this;
        }

        /** Characters per window T; default 64. */
        public Builder sequenceLength(int sequenceLength) {
            this.sequenceLength = sequenceLength;
            return this;
        }

        /** Windows per minibatch; default 32. */
        public Builder batchSize(int batchSize) {
            this.batchSize = batchSize;
            return this;
        }

        public Builder split(Split split) {
            this.split = split;
            return this;
        }

        /** Fraction of the text at its end held out for validation; default 0.1. */
        public Builder validationFraction(double validationFraction) {
            this.validationFraction = validationFraction;
            return this;
        }

        /** Whether windows are visited in a shuffled order; default: true for TRAIN, false for VALIDATION. */
        public Builder shuffle(boolean shuffle) {
            this.shuffle = shuffle;
            return this;
        }

        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /** One-hot {@code [mb, V, T]} features instead of indices {@code [mb, T]}; default false. */
        public Builder oneHotFeatures(boolean oneHotFeatures) {
            this.oneHotFeatures = oneHotFeatures;
            return this;
        }

        public CharacterIterator build() {
            return new CharacterIterator(this);
        }
    }
}
