package io.github.dl4jmoe.zoo.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.UncheckedIOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import io.github.dl4jmoe.zoo.data.CharacterIterator.Split;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.dataset.DataSet;

class CharacterIteratorTest {

    private static final String TEXT = "abcdefghijklmnopqrstuvwxyz0123";   // 30 distinct characters

    private static CharacterIterator.Builder tiny() {
        return CharacterIterator.builder().text(TEXT).sequenceLength(4).batchSize(3).validationFraction(0.2);
    }

    /** Features decoded back to text, one string per window, masked steps left out. */
    private static List<String> decode(DataSet ds, CharacterVocabulary v, boolean labels) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < ds.numExamples(); i++) {
            StringBuilder s = new StringBuilder();
            for (int t = 0; t < ds.getFeaturesMaskArray().size(1); t++) {
                if (ds.getFeaturesMaskArray().getDouble(i, t) == 0) {
                    continue;
                }
                int c = labels ? ds.getLabels().get(org.nd4j.linalg.indexing.NDArrayIndex.point(i),
                        org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.point(t))
                        .argMax().getInt(0) : ds.getFeatures().getInt(i, t);
                s.append(v.charAt(c));
            }
            out.add(s.toString());
        }
        return out;
    }

    @Test
    void windowsCoverTheTrainingSplitWithNextCharacterLabelsAndAMaskedTail() {
        CharacterIterator it = tiny().shuffle(false).build();          // training text: first 24 characters
        assertEquals("abcdefghijklmnopqrstuvwx", it.text());
        assertEquals(6, it.windows());                                 // 23 predictions in windows of 4
        List<String> inputs = new ArrayList<>();
        List<String> targets = new ArrayList<>();
        while (it.hasNext()) {
            DataSet ds = it.next();
            assertArrayEquals(new long[] {ds.numExamples(), 30, 4}, ds.getLabels().shape());
            inputs.addAll(decode(ds, it.vocabulary(), false));
            targets.addAll(decode(ds, it.vocabulary(), true));
        }
        assertEquals(List.of("abcd", "efgh", "ijkl", "mnop", "qrst", "uvw"), inputs);
        assertEquals(List.of("bcde", "fghi", "jklm", "nopq", "rstu", "vwx"), targets);
    }

    @Test
    void validationSplitIsTheHeldOutTailWithTheSameVocabulary() {
        CharacterIterator train = tiny().build();
        CharacterIterator validation = tiny().split(Split.VALIDATION).build();
        assertEquals("yz0123", validation.text());
        assertEquals(train.vocabulary(), validation.vocabulary());
        // "3" is only a label
        assertEquals(List.of("yz01", "2"), decode(validation.next(), validation.vocabulary(), false));
        assertFalse(validation.hasNext());
    }

    @Test
    void shuffledEpochsVisitEveryWindowOnceInANewOrder() {
        CharacterIterator it = tiny().seed(3).build();
        List<String> first = new ArrayList<>();
        while (it.hasNext()) {
            first.addAll(decode(it.next(), it.vocabulary(), false));
        }
        it.reset();
        List<String> second = new ArrayList<>();
        while (it.hasNext()) {
            second.addAll(decode(it.next(), it.vocabulary(), false));
        }
        assertEquals(6, first.size());
        assertEquals(first.stream().sorted().toList(), second.stream().sorted().toList());
        assertNotEquals(first, second);
    }

    @Test
    void oneHotFeaturesAndFileInput(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("t.txt");
        Files.writeString(file, TEXT, StandardCharsets.UTF_8);
        CharacterIterator it = CharacterIterator.builder().file(file).sequenceLength(5).batchSize(2)
                .oneHotFeatures(true).build();
        DataSet ds = it.next();
        assertArrayEquals(new long[] {2, 30, 5}, ds.getFeatures().shape());
        assertEquals(2 * 5, ds.getFeatures().sumNumber().intValue());  // one hot per step
        assertEquals(30, it.inputColumns());
    }

    @Test
    void aFileThatIsNotUtf8IsRefusedNamingTheFileAndByte(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("latin1.txt");
        Files.write(file, "caf\u00e9 au lait, encore du caf\u00e9".getBytes(StandardCharsets.ISO_8859_1));
        UncheckedIOException e = assertThrows(UncheckedIOException.class,
                () -> CharacterIterator.builder().file(file));
        assertEquals("CharacterIterator: cannot read " + file + ": " + file + " is not UTF-8 text: byte 0xE9 at "
                + "offset 3 (convert it to UTF-8, e.g. iconv -f latin1 -t utf-8)", e.getMessage());
        assertInstanceOf(CharacterCodingException.class, e.getCause());
        assertEquals("caf\u00e9", Utf8Text.decode("caf\u00e9".getBytes(StandardCharsets.UTF_8), "s"));
    }

    @Test
    void defaultIsTheBundledShakespeare() {
        CharacterIterator it = CharacterIterator.builder().build();
        assertTrue(it.text().startsWith("First Citizen"), it.text().substring(0, 20));
        assertEquals(65, it.vocabulary().size());
    }

    @Test
    void badArgumentsAndUnknownCharactersAreNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> tiny().sequenceLength(0).build());
        assertTrue(e.getMessage().contains("sequenceLength must be at least 1, got 0"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> tiny().validationFraction(1.5).build());
        assertTrue(e.getMessage().contains("validationFraction must be in (0, 1), got 1.5"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> tiny().vocabulary(CharacterVocabulary.of("abc")).build());
        assertTrue(e.getMessage().contains("'d'") && e.getMessage().contains("not in the vocabulary"), e.getMessage());
        CharacterIterator it = tiny().build();
        while (it.hasNext()) {
            it.next();
        }
        assertThrows(java.util.NoSuchElementException.class, it::next);
    }
}
