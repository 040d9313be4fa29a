package io.github.dl4jmoe.zoo.checkpoint;

import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

import io.github.dl4jmoe.zoo.data.CharacterIterator;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Where a training run stands, beyond the parameters and updater state {@code ModelSerializer} saves: what resuming
 * needs to continue exactly as if the run had not stopped.
 *
 * @param step     training steps completed (minibatches fitted)
 * @param data     the training iterator's position: epochs started and windows consumed in the current one
 * @param rngRoot  ND4J's random generator state ({@code Nd4j.getRandom().rootState()})
 * @param rngNode  ND4J's random generator state ({@code nodeState()})
 * @param options  the options that define the model and its data (option name to value as given, e.g.
 *                 {@code --context -> 64}); a resumed run takes them from here
 */
public record TrainingState(int step, CharacterIterator.Position data, long rngRoot, long rngNode,
                            Map<String, String> options) {

    /** Version of the stored form; readers refuse newer ones. */
    public static final int VERSION = 1;
    private static final String VERSION_KEY = "version";
    private static final String STEP_KEY = "step";
    private static final String DATA_EPOCH_KEY = "data.epoch";
    private static final String DATA_CURSOR_KEY = "data.cursor";
    private static final String RNG_ROOT_KEY = "rng.root";
    private static final String RNG_NODE_KEY = "rng.node";
    private static final String OPTION_PREFIX = "option.";

    public TrainingState {
        if (step < 0) {
            throw new IllegalArgumentException("TrainingState: step must be >= 0, got " + step);
        }
        options = Collections.unmodifiableMap(new LinkedHashMap<>(options));
    }

    /** The state after {@code step} steps with ND4J's random generator as it is now. */
    public static TrainingState now(int step, CharacterIterator.Position data, Map<String, String> options) {
        return new TrainingState(step, data, Nd4j.getRandom().rootState(), Nd4j.getRandom().nodeState(), options);
    }

    /** Puts ND4J's random generator back where it was (dropout and other random layers then draw the same). */
    public void restoreRandom() {
        Nd4j.getRandom().setStates(rngRoot, rngNode);
    }

    /** The stored form: Java properties text. */
    public String toText() {
        Properties p = new Properties();
        p.setProperty(VERSION_KEY, Integer.toString(VERSION));
        p.setProperty(STEP_KEY, Integer.toString(step));
        p.setProperty(DATA_EPOCH_KEY, Integer.toString(data.epoch()));
        p.setProperty(DATA_CURSOR_KEY, Integer.toString(data.cursor()));
        p.setProperty(RNG_ROOT_KEY, Long.toString(rngRoot));
        p.setProperty(RNG_NODE_KEY, Long.toString(rngNode));
        options.forEach((k, v) -> p.setProperty(OPTION_PREFIX + k, v));
        StringWriter out = new StringWriter();
        try {
            p.store(out, "dl4j-moe training state");
        } catch (IOException e) {
            throw new IllegalStateException("a StringWriter does not fail", e);
        }
        return out.toString();
    }

    /**
     * Reads the stored form.
     *
     * @param source names the file in messages
     */
    public static TrainingState fromText(String text, String source) throws IOException {
        Properties p = new Properties();
        p.load(new StringReader(text));
        int version = integer(p, VERSION_KEY, source);
        if (version > VERSION) {
            throw new IOException(source + ": training state version " + version + " is newer than this program's "
                    + VERSION + " (use a newer dl4j-moe)");
        }
        Map<String, String> options = new TreeMap<>();
        p.stringPropertyNames().stream().filter(k -> k.startsWith(OPTION_PREFIX))
                .forEach(k -> options.put(k.substring(OPTION_PREFIX.length()), p.getProperty(k)));
        return new TrainingState(integer(p, STEP_KEY, source),
                new CharacterIterator.Position(integer(p, DATA_EPOCH_KEY, source), integer(p, DATA_CURSOR_KEY, source)),
                number(p, RNG_ROOT_KEY, source), number(p, RNG_NODE_KEY, source), options);
    }

    private static int integer(Properties p, String key, String source) throws IOException {
        return Math.toIntExact(number(p, key, source));
    }

    private static long number(Properties p, String key, String source) throws IOException {
        try {
            return Long.parseLong(value(p, key, source));
        } catch (NumberFormatException e) {
            throw new IOException(source + ": training state " + key + " is not a number: " + p.getProperty(key));
        }
    }

    private static String value(Properties p, String key, String source) throws IOException {
        String v = p.getProperty(key);
        if (v == null) {
            throw new IOException(source + ": training state lacks " + key + " (the file is damaged)");
        }
        return v;
    }
}
