package io.github.dl4jmoe.examples;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.Callable;

import io.github.dl4jmoe.cli.CommandLines;
import io.github.dl4jmoe.cli.FileOptions;
import io.github.dl4jmoe.layers.DenseFeedForward;
import io.github.dl4jmoe.layers.FfnActivation;
import io.github.dl4jmoe.zoo.checkpoint.AtomicFiles;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * A character model on a window of previous characters: one-hot window -> linear embedding -> {@link DenseFeedForward}
 * (SwiGLU, no biases, so it can be upcycled) -> softmax over the next character. Trains with DL4J's ordinary
 * {@code fit}, reports validation loss, prints a sample and optionally saves the model, atomically
 * ({@link AtomicFiles}: a failed or interrupted write leaves the file that was at {@code --save} as it was).
 */
@Command(name = "char-mlp", mixinStandardHelpOptions = true,
        description = "Train a next-character MLP with a DenseFeedForward block on text "
                + "(default: bundled Shakespeare).")
public final class CharMlpExample implements Callable<Integer> {

    /** Adam's learning rate. */
    public static final double LEARNING_RATE = 3e-3;

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
    @Option(names = "--sample-length", defaultValue = "300", description = "characters to generate "
            + "(default: ${DEFAULT-VALUE})")
    int sampleLength;
    @Option(names = "--seed", defaultValue = "42", description = "random seed (default: ${DEFAULT-VALUE})")
    long seed;
    @Option(names = "--save", description = "write the trained model here (ModelSerializer zip)")
    Path save;
    @Spec
    CommandSpec spec;

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
        validateOptions();
        FileOptions.requireDistinct(spec, "--save", save, "--text", text);
        CharWindows data = CharWindows.of(spec, CharWindows.read(spec, text), text, context);
        Random random = new Random(seed);
        DataSet validation = data.validation(seed);
        MultiLayerNetwork net = network(data);
        double initial = net.score(validation);
        for (int step = 1; step <= steps; step++) {
            net.fit(data.training(batch, random));
            if (step % 100 == 0 || step == steps) {
                System.out.printf("step %d/%d  train loss %.4f%n", step, steps, net.score());
            }
        }
        double last = net.score(validation);
        if (save != null) {
            AtomicFiles.write(save, file -> ModelSerializer.writeModel(net, file.toFile(), true));
        }
        String seedText = data.validationSeed();
        return new Result(initial, last, seedText + data.sample(net, seedText, sampleLength, random));
    }

    private MultiLayerNetwork network(CharWindows data) {
        return network(data, dModel, dFf, seed);
    }

    /**
     * The char-mlp network: one-hot context window, a linear embedding of width {@code dModel}, one SwiGLU
     * {@link DenseFeedForward} block of width {@code dFf}, softmax over the vocabulary; Adam at
     * {@value #LEARNING_RATE}.
     */
    public static MultiLayerNetwork network(CharWindows data, int dModel, int dFf, long seed) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(seed)
                .dataType(DataType.FLOAT)
                .updater(new Adam(LEARNING_RATE))
                .list()
                .layer(new DenseLayer.Builder().nOut(dModel).activation(Activation.IDENTITY).build())
                .layer(new DenseFeedForward.Builder().dFf(dFf).activation(FfnActivation.SWIGLU).hasBias(false).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(data.vocabulary())
                        .activation(Activation.SOFTMAX).build())
                .setInputType(InputType.feedForward(data.inputWidth()))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    /** Every check that needs no training, each failure a usage error naming the option. */
    private void validateOptions() {
        require(steps >= 0, "--steps must be 0 or more, got " + steps + " (try 600)");
        require(batch >= 1, "--batch must be at least 1, got " + batch + " (try 128)");
        require(context >= 1, "--context must be at least 1, got " + context + " (try 8)");
        require(dModel >= 1, "--d-model must be at least 1, got " + dModel + " (try 128)");
        require(dFf >= 1, "--d-ff must be at least 1, got " + dFf + " (try 384)");
        require(sampleLength >= 0, "--sample-length must be 0 or more, got " + sampleLength);
        if (save != null) {
            FileOptions.requireWritableFile(spec, "--save", save);
        }
    }

    private void require(boolean ok, String message) {
        if (!ok) {
            throw CommandLines.usage(spec, message);
        }
    }
}
