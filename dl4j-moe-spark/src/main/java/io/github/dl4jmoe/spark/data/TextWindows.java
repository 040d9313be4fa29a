package io.github.dl4jmoe.spark.data;

import java.util.ArrayList;
import java.util.List;

import io.github.dl4jmoe.zoo.data.CharacterIterator;
import io.github.dl4jmoe.zoo.data.CharacterVocabulary;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A text as an RDD of next-character windows, one window (one example) per {@link DataSet}, with exactly the
 * windows, shapes and masks of {@link CharacterIterator} (a test compares them): window i covers the characters
 * {@code [iT, iT + T]} and predicts characters {@code iT + 1 .. iT + T}; the last window may be shorter, its missing
 * steps masked out.
 *
 * <p>Only the window texts ({@code T + 1} characters each) travel from the driver; the workers encode them, so the
 * one-hot labels ({@code 4 V T} bytes per window) are never built on the driver.
 */
public final class TextWindows {

    private TextWindows() {
    }

    /**
     * The windows of {@code text} as an RDD: features {@code [1, T]} (character indices), labels {@code [1, V, T]}
     * (one-hot), feature and label masks {@code [1, T]}.
     *
     * @param text       one split of the corpus, e.g. {@link CharacterIterator#text()} of its training split
     * @param length     characters per window T (the model's context length or less)
     * @param partitions slices of the RDD; windows are assigned to them in order, in contiguous runs
     */
    public static JavaRDD<DataSet> rdd(JavaSparkContext sc, String text, CharacterVocabulary vocabulary, int length,
                                       int partitions) {
        List<String> windows = windows(text, length);
        return sc.parallelize(windows, partitions).map(window -> encode(window, vocabulary, length));
    }

    /**
     * The windows' texts, {@code T + 1} characters each but the last; as many as {@link CharacterIterator#windows()}.
     */
    public static List<String> windows(String text, int length) {
        if (length < 1) {
            throw new IllegalArgumentException("TextWindows: length must be at least 1, got " + length);
        }
        if (text.length() < 2) {
            throw new IllegalArgumentException("TextWindows: the text needs at least 2 characters, got "
                    + text.length());
        }
        int count = (text.length() - 2) / length + 1;  // predictions: text.length() - 1 positions
        List<String> windows = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            int start = i * length;
            windows.add(text.substring(start, Math.min(text.length(), start + length + 1)));
        }
        return windows;
    }

    /** One window as a single-example {@link DataSet} in {@link CharacterIterator}'s format (index features). */
    public static DataSet encode(String window, CharacterVocabulary vocabulary, int length) {
        int steps = window.length() - 1;
        if (steps < 1 || steps > length) {
            throw new IllegalArgumentException("TextWindows: a window of length " + length + " needs 2 to "
                    + (length + 1) + " characters, got " + window.length());
        }
        INDArray features = Nd4j.zeros(DataType.FLOAT, 1, length);
        INDArray labels = Nd4j.zeros(DataType.FLOAT, 1, vocabulary.size(), length);
        INDArray mask = Nd4j.zeros(DataType.FLOAT, 1, length);
        for (int s = 0; s < steps; s++) {
            features.putScalar(0, s, vocabulary.indexOf(window.charAt(s)));
            labels.putScalar(new long[] {0, vocabulary.indexOf(window.charAt(s + 1)), s}, 1f);
            mask.putScalar(0, s, 1f);
        }
        return new DataSet(features, labels, mask, mask.dup());
    }
}
