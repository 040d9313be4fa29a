package io.github.dl4jmoe.examples;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;

import io.github.dl4jmoe.cli.CommandLines;
import io.github.dl4jmoe.cli.FileOptions;
import io.github.dl4jmoe.layers.DenseFeedForward;
import io.github.dl4jmoe.layers.FineRMoeLayer;
import io.github.dl4jmoe.runtime.MoeLayerRuntime;
import io.github.dl4jmoe.upcycle.UpcycleMode;
import io.github.dl4jmoe.upcycle.Upcycler;
import io.github.dl4jmoe.zoo.checkpoint.AtomicFiles;
import org.deeplearning4j.exception.DL4JInvalidConfigException;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.dataset.DataSet;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * Upcycles every {@link DenseFeedForward} block of a {@code char-mlp} checkpoint into a {@link FineRMoeLayer}, saves
 * the result, and optionally continues training the dense and the upcycled model on the same batches, reporting
 * validation loss and time per step of each. The model is written atomically ({@link AtomicFiles}): a failed or
 * interrupted write leaves the file that was at {@code --out} as it was.
 */
@Command(name = "upcycle", mixinStandardHelpOptions = true,
        description = "Dense char-mlp checkpoint in, FineRMoE checkpoint out; optional continued training "
                + "side by side.")
public final class UpcycleCommand implements Callable<Integer> {

    /** What --dense should name. */
    private static final String DENSE_FILE = "a dense checkpoint written by char-mlp --save";

    @Option(names = "--dense", required = true, description = "dense checkpoint (char-mlp --save)")
    Path dense;
    @Option(names = "--out", required = true, description = "where to write the upcycled model")
    Path out;
    @Option(names = "--mode", defaultValue = "PRESERVING", description = "AUTHORS or PRESERVING "
            + "(default: ${DEFAULT-VALUE})")
    UpcycleMode mode;
    @Option(names = "--input-granularity", defaultValue = "4", description = "G_I (default: ${DEFAULT-VALUE})")
    int inputGranularity;
    @Option(names = "--output-granularity", defaultValue = "2", description = "G_O (default: ${DEFAULT-VALUE})")
    int outputGranularity;
    @Option(names = "--input-expansion", defaultValue = "1", description = "R_I (default: ${DEFAULT-VALUE})")
    int inputExpansion;
    @Option(names = "--output-expansion", defaultValue = "2", description = "R_O (default: ${DEFAULT-VALUE})")
    int outputExpansion;
    @Option(names = "--top-input", description = "T_I (default: G_I, which PRESERVING needs)")
    Integer topInput;
    @Option(names = "--shared", description = "add a gated shared expert of the dense width")
    boolean shared;
    @Option(names = "--steps", defaultValue = "0", description = "continued training steps for both models "
            + "(default: ${DEFAULT-VALUE})")
    int steps;
    @Option(names = "--batch", defaultValue = "128", description = "minibatch size (default: ${DEFAULT-VALUE})")
    int batch;
    @Option(names = "--lr", description = "learning rate of continued training for both models (default: as saved; "
            + "a third of char-mlp's rate, 1e-3, trains both further: see README, Reproducing the papers)")
    Double learningRate;
    @Option(names = "--text", description = "UTF-8 text the checkpoint was trained on "
            + "(default: bundled tiny Shakespeare)")
    Path text;
    @Option(names = "--seed", defaultValue = "7", description = "random seed (default: ${DEFAULT-VALUE})")
    long seed;
    @Spec
    CommandSpec spec;

    /**
     * Validation losses (cross-entropy, auxiliary terms excluded) before and after continued training, and mean
     * milliseconds per training step.
     */
    public record Result(int converted, double denseBefore, double moeBefore, double denseAfter, double moeAfter,
                         double denseMillisPerStep, double moeMillisPerStep) {
    }

    @Override
    public Integer call() throws IOException {
        Result r = run();
        System.out.printf("upcycled %d block(s) with %s%n", r.converted(), mode);
        System.out.printf("validation loss at upcycling: dense %.4f, upcycled %.4f%n", r.denseBefore(), r.moeBefore());
        if (steps > 0) {
            System.out.printf("after %d more steps:        dense %.4f, upcycled %.4f%n", steps, r.denseAfter(),
                    r.moeAfter());
            System.out.printf("time per step:               dense %.1f ms, upcycled %.1f ms%n", r.denseMillisPerStep(),
                    r.moeMillisPerStep());
        }
        System.out.println("wrote " + out);
        return 0;
    }

    public Result run() throws IOException {
        validateOptions();
        FileOptions.requireDistinct(spec, "--out", out, "--dense", dense);
        FileOptions.requireDistinct(spec, "--out", out, "--text", text);
        MultiLayerNetwork denseNet = FileOptions.loadMultiLayerNetwork(spec, "--dense", dense, DENSE_FILE, true);
        String corpus = CharWindows.read(spec, text);
        int context = contextOf(denseNet, corpus);
        Map<Integer, FineRMoeLayer> targets = new LinkedHashMap<>();
        for (int i = 0; i < denseNet.getnLayers(); i++) {
            if (denseNet.getLayer(i).conf().getLayer() instanceof DenseFeedForward ffn) {
                targets.put(i, target(i, ffn));
            }
        }
        if (targets.isEmpty()) {
            throw usage("--dense: " + dense + " has no DenseFeedForward block to upcycle (pass " + DENSE_FILE + ")");
        }
        MultiLayerNetwork moe;
        try {
            moe = Upcycler.of(mode).seed(seed).upcycle(denseNet, targets);
        } catch (IllegalArgumentException | DL4JInvalidConfigException e) {
            throw CommandLines.usage(spec, "--mode " + mode + ": " + e.getMessage(), e);
        }
        CharWindows data = CharWindows.of(spec, corpus, text, context);
        DataSet validation = data.validation(seed);
        double denseBefore = taskLoss(denseNet, validation);
        double moeBefore = taskLoss(moe, validation);
        if (learningRate != null) {
            denseNet.setLearningRate(learningRate);
            moe.setLearningRate(learningRate);
        }
        long denseNanos = 0;
        long moeNanos = 0;
        Random random = new Random(seed);
        for (int step = 0; step < steps; step++) {
            DataSet batchData = data.training(batch, random);
            long t0 = System.nanoTime();
            denseNet.fit(batchData);
            long t1 = System.nanoTime();
            moe.fit(batchData);
            moeNanos += System.nanoTime() - t1;
            denseNanos += t1 - t0;
        }
        AtomicFiles.write(out, file -> ModelSerializer.writeModel(moe, file.toFile(), true));
        double perStep = Math.max(1, steps) * 1e6;
        return new Result(targets.size(), denseBefore, moeBefore, taskLoss(denseNet, validation),
                taskLoss(moe, validation), denseNanos / perStep, moeNanos / perStep);
    }

    /** Every check that needs neither the checkpoint nor training, each failure a usage error naming the option. */
    private void validateOptions() {
        require(inputGranularity >= 1, "--input-granularity", inputGranularity);
        require(outputGranularity >= 1, "--output-granularity", outputGranularity);
        require(inputExpansion >= 1, "--input-expansion", inputExpansion);
        require(outputExpansion >= 1, "--output-expansion", outputExpansion);
        if (topInput != null) {
            require(topInput >= 1, "--top-input", topInput);
            if (topInput > inputGranularity * inputExpansion) {
                throw usage("--top-input must be at most --input-granularity x --input-expansion = "
                        + inputGranularity * inputExpansion + ", got " + topInput);
            }
        }
        if (steps < 0) {
            throw usage("--steps must be 0 or more, got " + steps + " (0: upcycle without training)");
        }
        require(batch >= 1, "--batch", batch);
        if (learningRate != null && !(learningRate > 0 && Double.isFinite(learningRate))) {
            throw usage("--lr must be a positive number, got " + learningRate + " (try 1e-3, or leave it out to "
                    + "keep the checkpoint's)");
        }
        FileOptions.requireWritableFile(spec, "--out", out);
    }

    private void require(boolean ok, String option, int value) {
        if (!ok) {
            throw usage(option + " must be at least 1, got " + value);
        }
    }

    /**
     * The characters per window the dense checkpoint reads: its one-hot input width over the vocabulary of the text,
     * which must be the vocabulary it was trained on.
     */
    private int contextOf(MultiLayerNetwork denseNet, String corpus) {
        long inputWidth = ((FeedForwardLayer) denseNet.getLayer(0).conf().getLayer()).getNIn();
        long outputWidth = ((FeedForwardLayer) denseNet.getLayer(denseNet.getnLayers() - 1).conf().getLayer())
                .getNOut();
        int vocabulary = CharWindows.distinctCharacters(corpus);
        if (outputWidth != vocabulary || inputWidth % vocabulary != 0) {
            throw usage("--text: " + (text == null ? "the bundled text" : text) + " has " + vocabulary
                    + " distinct characters, but --dense " + dense + " predicts " + outputWidth + " (pass the text "
                    + "the checkpoint was trained on)");
        }
        return (int) (inputWidth / vocabulary);
    }

    /** The FineRMoE layer replacing dense block {@code i}, or a usage error naming the option that does not fit. */
    private FineRMoeLayer target(int i, DenseFeedForward ffn) {
        String block = "block " + i + " of --dense " + dense;
        if (ffn.getDFf() % inputGranularity != 0) {
            throw usage("--input-granularity must divide the hidden width " + ffn.getDFf() + " of " + block + ", got "
                    + inputGranularity + " (try " + nearestDivisor(ffn.getDFf(), inputGranularity) + ")");
        }
        long width = ffn.getNOut();
        if (width % outputGranularity != 0) {
            throw usage("--output-granularity must divide the output width " + width + " of " + block + ", got "
                    + outputGranularity + " (try " + nearestDivisor(width, outputGranularity) + ")");
        }
        try {
            return new FineRMoeLayer.Builder().dFf(ffn.getDFf()).activation(ffn.getActivation())
                    .inputGranularity(inputGranularity).outputGranularity(outputGranularity)
                    .inputExpansion(inputExpansion).outputExpansion(outputExpansion)
                    .topInput(topInput == null ? inputGranularity : topInput)
                    .sharedHidden(shared ? ffn.getDFf() : 0).sharedGate(shared).build();
        } catch (IllegalArgumentException | DL4JInvalidConfigException e) {
            throw CommandLines.usage(spec, "the granularity options do not fit " + block + ": " + e.getMessage(), e);
        }
    }

    /** The divisor of {@code n} closest to {@code value}, the smaller on a tie. */
    static long nearestDivisor(long n, long value) {
        long best = 1;
        for (long d = 1; d <= n; d++) {
            if (n % d == 0 && Math.abs(d - value) < Math.abs(best - value)) {
                best = d;
            }
        }
        return best;
    }

    private ParameterException usage(String message) {
        return CommandLines.usage(spec, message);
    }

    /** The score without the MoE layers' auxiliary terms, so dense and upcycled losses compare directly. */
    public static double taskLoss(MultiLayerNetwork net, DataSet data) {
        double score = net.score(data);
        for (org.deeplearning4j.nn.api.Layer layer : net.getLayers()) {
            if (layer instanceof MoeLayerRuntime runtime) {
                score -= runtime.auxiliaryScore();
            }
        }
        return score;
    }
}
