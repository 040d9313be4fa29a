package io.github.dl4jmoe.examples;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Random;
import java.util.TreeSet;

import io.github.dl4jmoe.cli.CommandLines;
import io.github.dl4jmoe.cli.FileOptions;
import io.github.dl4jmoe.zoo.data.BundledText;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import picocli.CommandLine.Model.CommandSpec;

/**
 * Next-character examples from a text: one-hot windows of {@code context} characters and the character after them.
 * The last {@value #VALIDATION_FRACTION} of the text is held out for validation.
 */
public final class CharWindows {

    static final double VALIDATION_FRACTION = 0.1;
    static final int VALIDATION_EXAMPLES = 2048;

    private final String text;
    private final int context;
    private final int split;
    private final char[] chars;
    private final int[] index = new int[Character.MAX_VALUE + 1];

    CharWindows(String text, int context) {
        if (text.length() < minimumLength(context)) {
            throw new IllegalArgumentException("the text has " + text.length() + " characters, too few for windows of "
                    + context + ": need at least " + minimumLength(context));
        }
        this.text = text;
        this.context = context;
        this.split = (int) split(text.length());
        TreeSet<Character> set = new TreeSet<>();
        for (int i = 0; i < text.length(); i++) {
            set.add(text.charAt(i));
        }
        chars = new char[set.size()];
        int i = 0;
        for (char c : set) {
            chars[i] = c;
            index[c] = i++;
        }
    }

    /**
     * The windows of the text of {@code --text} ({@code file}, null for the bundled text), or a usage error naming
     * {@code --text} when it is too short for the training and validation split to hold a window each.
     */
    public static CharWindows of(CommandSpec spec, String text, Path file, int context) {
        long needed = minimumLength(context);
        if (text.length() < needed) {
            throw CommandLines.usage(spec, "--text: " + (file == null ? "the bundled text" : file) + " has "
                    + text.length() + " characters, too few for windows of " + context + " characters: need at least "
                    + needed + " (pass a longer text, or use a shorter context)");
        }
        return new CharWindows(text, context);
    }

    /** The text of {@code --text} ({@code file}), or the bundled tiny Shakespeare when {@code file} is null. */
    public static String read(CommandSpec spec, Path file) throws IOException {
        return file == null ? BundledText.TINY_SHAKESPEARE.read() : FileOptions.readText(spec, "--text", file);
    }

    /** Distinct characters of {@code text}: the model's vocabulary size. */
    static int distinctCharacters(String text) {
        return (int) text.chars().distinct().count();
    }

    /**
     * The shortest text whose training split and validation split (the last {@value #VALIDATION_FRACTION}) each hold
     * a window of {@code context} characters and the character after it.
     */
    static long minimumLength(int context) {
        long n = Math.max(context + 2L, 10L * (context + 1) - 20);   // both splits only grow with n
        while (n - split(n) - context < 1 || split(n) - context < 1) {
            n++;
        }
        return n;
    }

    private static long split(long length) {
        return (long) (length * (1 - VALIDATION_FRACTION));
    }

    public int vocabulary() {
        return chars.length;
    }

    int context() {
        return context;
    }

    public long inputWidth() {
        return (long) context * chars.length;
    }

    /** {@code count} random training windows. */
    public DataSet training(int count, Random random) {
        return windows(0, split, count, random);
    }

    /** A fixed validation set drawn with {@code seed}. */
    public DataSet validation(long seed) {
        return windows(split, text.length(), Math.min(VALIDATION_EXAMPLES, text.length() - split - context),
                new Random(seed));
    }

    private DataSet windows(int from, int to, int count, Random random) {
        INDArray features = Nd4j.zeros(DataType.FLOAT, count, inputWidth());
        INDArray labels = Nd4j.zeros(DataType.FLOAT, count, chars.length);
        for (int i = 0; i < count; i++) {
            int start = from + random.nextInt(to - from - context);
            for (int j = 0; j < context; j++) {
                features.putScalar(i, (long) j * chars.length + index[text.charAt(start + j)], 1f);
            }
            labels.putScalar(i, index[text.charAt(start + context)], 1f);
        }
        return new DataSet(features, labels);
    }

    /** The first {@code context} characters of the validation text. */
    String validationSeed() {
        return text.substring(split, split + context);
    }

    /** Samples {@code length} characters after {@code seedText} from a model's softmax output. */
    String sample(org.deeplearning4j.nn.multilayer.MultiLayerNetwork net, String seedText, int length, Random random) {
        StringBuilder window = new StringBuilder(seedText);
        StringBuilder out = new StringBuilder();
        for (int n = 0; n < length; n++) {
            INDArray x = Nd4j.zeros(DataType.FLOAT, 1, inputWidth());
            for (int j = 0; j < context; j++) {
                x.putScalar(0, (long) j * chars.length + index[window.charAt(j)], 1f);
            }
            INDArray p = net.output(x);
            double u = random.nextDouble();
            int next = chars.length - 1;
            for (int c = 0; c < chars.length; c++) {
                u -= p.getDouble(0, c);
                if (u <= 0) {
                    next = c;
                    break;
                }
            }
            out.append(chars[next]);
            window.deleteCharAt(0).append(chars[next]);
        }
        return out.toString();
    }
}
