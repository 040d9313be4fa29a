package io.github.dl4jmoe.zoo.data;

import java.io.Serializable;
import java.util.Arrays;
import java.util.TreeSet;

/**
 * The characters of a text, sorted, each with its index: the vocabulary of a character-level language model.
 * Build it from the whole text so the training and validation iterators share it.
 */
public final class CharacterVocabulary implements Serializable {

    private static final long serialVersionUID = 1L;

    private final char[] chars;
    private final int[] index = new int[Character.MAX_VALUE + 1];

    private CharacterVocabulary(char[] chars) {
        if (chars.length == 0) {
            throw new IllegalArgumentException("CharacterVocabulary: the text is empty");
        }
        this.chars = chars;
        Arrays.fill(index, -1);
        for (int i = 0; i < chars.length; i++) {
            index[chars[i]] = i;
        }
    }

    /** The distinct characters of {@code text}, sorted. */
    public static CharacterVocabulary of(String text) {
        TreeSet<Character> set = new TreeSet<>();
        for (int i = 0; i < text.length(); i++) {
            set.add(text.charAt(i));
        }
        char[] chars = new char[set.size()];
        int i = 0;
        for (char c : set) {
            chars[i++] = c;
        }
        return new CharacterVocabulary(chars);
    }

    /** The inverse of {@link #characters()}. */
    public static CharacterVocabulary fromCharacters(String characters) {
        CharacterVocabulary v = of(characters);
        if (v.size() != characters.length()) {
            throw new IllegalArgumentException("CharacterVocabulary: characters must be distinct, got \""
                    + characters + "\"");
        }
        return v;
    }

    public int size() {
        return chars.length;
    }

    /** All characters in index order (store this to rebuild the vocabulary). */
    public String characters() {
        return new String(chars);
    }

    public boolean contains(char c) {
        return index[c] >= 0;
    }

    /** The index of {@code c}; a character outside the vocabulary is an error that names it. */
    public int indexOf(char c) {
        int i = index[c];
        if (i < 0) {
            throw new IllegalArgumentException("Character '" + printable(c) + "' (U+" + String.format("%04X", (int) c)
                    + ") is not in the vocabulary of " + chars.length + " characters; use text the model was "
                    + "trained on");
        }
        return i;
    }

    public char charAt(int i) {
        if (i < 0 || i >= chars.length) {
            throw new IndexOutOfBoundsException("Character index " + i + " outside the vocabulary [0, " + chars.length
                    + ")");
        }
        return chars[i];
    }

    private static String printable(char c) {
        return Character.isISOControl(c) ? "\\u" + String.format("%04x", (int) c) : String.valueOf(c);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof CharacterVocabulary v && Arrays.equals(chars, v.chars);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(chars);
    }
}
