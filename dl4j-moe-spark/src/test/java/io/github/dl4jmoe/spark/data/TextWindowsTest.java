package io.github.dl4jmoe.spark.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;

import io.github.dl4jmoe.zoo.data.CharacterIterator;
import io.github.dl4jmoe.zoo.data.CharacterVocabulary;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.dataset.DataSet;

class TextWindowsTest {

    private static final String TEXT = "the quick brown fox jumps over the lazy dog";   // 43 characters
    private static final CharacterVocabulary VOCABULARY = CharacterVocabulary.of(TEXT);

    @Test
    void windowsAreThoseOfCharacterIteratorIncludingTheShortLastOne() {
        int length = 5;
        CharacterIterator reference = CharacterIterator.builder().text(TEXT).vocabulary(VOCABULARY)
                .sequenceLength(length).batchSize(1).validationFraction(0.01).shuffle(false).build(); // all 43 train
        List<String> windows = TextWindows.windows(reference.text(), length);

        assertEquals(9, reference.windows());
        assertEquals(reference.windows(), windows.size());
        for (String window : windows) {
            DataSet expected = reference.next();
            DataSet actual = TextWindows.encode(window, VOCABULARY, length);
            assertEquals(expected.getFeatures(), actual.getFeatures(), window);
            assertEquals(expected.getLabels(), actual.getLabels(), window);
            assertEquals(expected.getFeaturesMaskArray(), actual.getFeaturesMaskArray(), window);
            assertEquals(expected.getLabelsMaskArray(), actual.getLabelsMaskArray(), window);
        }
        assertEquals("dog", windows.get(windows.size() - 1), "43 characters: 8 full windows and one of 2 steps");
    }

    @Test
    void rejectsWindowsThatDoNotFit() {
        assertEquals("TextWindows: a window of length 4 needs 2 to 5 characters, got 6",
                assertThrows(IllegalArgumentException.class,
                        () -> TextWindows.encode("the qu", VOCABULARY, 4)).getMessage());
        assertEquals("TextWindows: length must be at least 1, got 0",
                assertThrows(IllegalArgumentException.class, () -> TextWindows.windows(TEXT, 0)).getMessage());
        assertEquals("TextWindows: the text needs at least 2 characters, got 1",
                assertThrows(IllegalArgumentException.class, () -> TextWindows.windows("t", 4)).getMessage());
        assertThrows(IllegalArgumentException.class, () -> TextWindows.encode("t!", VOCABULARY, 4),
                "a character outside the vocabulary");
    }
}
