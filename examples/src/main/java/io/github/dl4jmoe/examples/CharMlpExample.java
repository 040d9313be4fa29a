package io.github.dl4jmoe.examples;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.TreeSet;
import java.util.concurrent.Callable;

import io.github.dl4jmoe.layers.DenseFeedForward;
import io.github.dl4jmoe.layers.FfnActivation;
import io.github.dl4jmoe.zoo.data.BundledText;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * A character model on a window of previous characters: one-hot window -> linear embedding -> {@link DenseFeedForward}
 * (SwiGLU) -> softmax over the next character. Trains with DL4J's ordinary {@code fit}, reports validation loss and
 * prints a sample. The smallest end-to-end use of a dl4j-moe layer.
 */
@Command(name = "char-mlp", mixinStandardHelpOptions = true,
        description = "Train a next-character MLP with a DenseFeedForward block on text (default: bundled Shakespeare).")
public final class CharMlpExample implements Callable<Integer> {

    /** Share of the text, from its end, held out for validation. */
    static final double VALIDATION_FRACTION = 0.1;
    static final int VALIDATION_EXAMPLES = 2048;

    @Option(names = "--text", description = "UTF-8 text file (default: bundled tiny Shakespeare)")
    Path text;
    @Option(names = "--steps", defaultValue = "600", description = "training steps (default: ${DEFAULT-VALUE})")
    int steps;
    @Option(names = "--batch", defaultValue = "128", description = "minibatch size (default: ${DEFAULT-VALUE})")
    int batch;
    @Option(names = "--context", defaultValue = "8", description = "characters of context (default: ${DEFAULT-VALUE})")
    int context;
    @Option(names = "--d-model", defaultValue = "128", description = "embedding width (default: ${DEFAULT-VALUE})")
    int dModel;
    @Option(names = "--d-ff", defaultValue = "384", description = "feed-forward width (default: ${DEFAULT-VALUE})")
    int dFf;
    @Option(names = "--sample-length", defaultValue = "300", description = "characters to generate (default: ${DEFAULT-VALUE})")
    int sampleLength;
    @Option(names = "--seed", defaultValue = "42", description = "random seed (default: ${DEFAULT-VALUE})")
    long seed;

    /** What a run produced. */
    public record Result(double initialValidationLoss, double finalValidationLoss, String sample) {
    }

    @Override
    public Integer call() throws IOException {
        Result r = run();
        System.out.printf("validation loss: %.4f -> %.4f%n", r.initialValidationLoss(), r.finalValidationLoss());
        System.out.println("--- sample ---");
        System.out.println(r.sample());
        return 0;
    }

    public Result run() throws IOException {
        String corpus = text == null ? BundledText.TINY_SHAKESPEARE.read() : Files.readString(text, StandardCharsets.UTF_8);
        Vocabulary vocab = new Vocabulary(corpus);
        if (corpus.length() < 4 * (context + 1)) {
            throw new IllegalArgumentException("--text: need at least " + 4 * (context + 1) + " characters, got " + corpus.length());
        }
        int split = (int) (corpus.length() * (1 - VALIDATION_FRACTION));
        Random random = new Random(seed);
        DataSet validation = windows(corpus, vocab, split, corpus.length(), Math.min(VALIDATION_EXAMPLES, corpus.length() - split - context), random);

        MultiLayerNetwork net = network(vocab.size());
        double initial = net.score(validation);
        for (int step = 1; step <= steps; step++) {
            net.fit(windows(corpus, vocab, 0, split, batch, random));
            if (step % 100 == 0 || step == steps) {
                System.out.printf("step %d/%d  train loss %.4f%n", step, steps, net.score());
            }
        }
        double last = net.score(validation);
        String seedText = corpus.substring(split, split + context);
        return new Result(initial, last, seedText + sample(net, vocab, seedText, random));
    }

    private MultiLayerNetwork network(int vocabSize) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(seed)
                .dataType(DataType.FLOAT)
                .updater(new Adam(3e-3))
                .list()
                .layer(new DenseLayer.Builder().nOut(dModel).activation(Activation.IDENTITY).build())
                .layer(new DenseFeedForward.Builder().dFf(dFf).activation(FfnActivation.SWIGLU).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(vocabSize)
                        .activation(Activation.SOFTMAX).build())
                .setInputType(InputType.feedForward((long) context * vocabSize))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    /** {@code count} random windows starting in {@code [from, to - context)}: one-hot context and next character. */
    private DataSet windows(String corpus, Vocabulary vocab, int from, int to, int count, Random random) {
        INDArray features = Nd4j.zeros(DataType.FLOAT, count, (long) context * vocab.size());
        INDArray labels = Nd4j.zeros(DataType.FLOAT, count, vocab.size());
        for (int i = 0; i < count; i++) {
            int start = from + random.nextInt(to - from - context);
            for (int j = 0; j < context; j++) {
                features.putScalar(i, (long) j * vocab.size() + vocab.index(corpus.charAt(start + j)), 1f);
            }
            labels.putScalar(i, vocab.index(corpus.charAt(start + context)), 1f);
        }
        return new DataSet(features, labels);
    }

    private String sample(MultiLayerNetwork net, Vocabulary vocab, String seedText, Random random) {
        StringBuilder window = new StringBuilder(seedText);
        StringBuilder out = new StringBuilder();
        for (int n = 0; n < sampleLength; n++) {
            INDArray x = Nd4j.zeros(DataType.FLOAT, 1, (long) context * vocab.size());
            for (int j = 0; j < context; j++) {
                x.putScalar(0, (long) j * vocab.size() + vocab.index(window.charAt(j)), 1f);
            }
            INDArray p = net.output(x);
            double u = random.nextDouble();
            int next = vocab.size() - 1;
            for (int c = 0; c < vocab.size(); c++) {
                u -= p.getDouble(0, c);
                if (u <= 0) {
                    next = c;
                    break;
                }
            }
            char ch = vocab.character(next);
            out.append(ch);
            window.deleteCharAt(0).append(ch);
        }
        return out.toString();
    }

    /** The distinct characters of a text, in code-point order. */
    static final class Vocabulary {
        private final char[] chars;
        private final int[] index = new int[Character.MAX_VALUE + 1];

        Vocabulary(String text) {
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

        int size() {
            return chars.length;
        }

        int index(char c) {
            return index[c];
        }

        char character(int i) {
            return chars[i];
        }
    }
}
