package io.github.dl4jmoe.examples;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;

import io.github.dl4jmoe.layers.DenseFeedForward;
import io.github.dl4jmoe.layers.FineRMoeLayer;
import io.github.dl4jmoe.runtime.MoeLayerRuntime;
import io.github.dl4jmoe.upcycle.UpcycleMode;
import io.github.dl4jmoe.upcycle.Upcycler;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.dataset.DataSet;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Upcycles every {@link DenseFeedForward} block of a {@code char-mlp} checkpoint into a {@link FineRMoeLayer}, saves
 * the result, and optionally continues training the dense and the upcycled model on the same batches, reporting
 * validation loss and time per step of each.
 */
@Command(name = "upcycle", mixinStandardHelpOptions = true,
        description = "Dense char-mlp checkpoint in, FineRMoE checkpoint out; optional continued training "
                + "side by side.")
public final class UpcycleCommand implements Callable<Integer> {

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
    @Option(names = "--lr", description = "learning rate of continued training for both models (default: as saved); "
            + "the upcycled model starts with a fresh updater, so a lower rate avoids a jump away from the dense "
            + "optimum")
    Double learningRate;
    @Option(names = "--text", description = "UTF-8 text the checkpoint was trained on "
            + "(default: bundled tiny Shakespeare)")
    Path text;
    @Option(names = "--seed", defaultValue = "7", description = "random seed (default: ${DEFAULT-VALUE})")
    long seed;

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
        MultiLayerNetwork denseNet = ModelSerializer.restoreMultiLayerNetwork(dense.toFile(), true);
        Map<Integer, FineRMoeLayer> targets = new LinkedHashMap<>();
        for (int i = 0; i < denseNet.getnLayers(); i++) {
            if (denseNet.getLayer(i).conf().getLayer() instanceof DenseFeedForward ffn) {
                targets.put(i, new FineRMoeLayer.Builder().dFf(ffn.getDFf()).activation(ffn.getActivation())
                        .inputGranularity(inputGranularity).outputGranularity(outputGranularity)
                        .inputExpansion(inputExpansion).outputExpansion(outputExpansion)
                        .topInput(topInput == null ? inputGranularity : topInput)
                        .sharedHidden(shared ? ffn.getDFf() : 0).sharedGate(shared).build());
            }
        }
        if (targets.isEmpty()) {
            throw new IllegalArgumentException("--dense: " + dense + " has no DenseFeedForward block to upcycle");
        }
        MultiLayerNetwork moe = Upcycler.of(mode).seed(seed).upcycle(denseNet, targets);

        String corpus = CharWindows.read(text);
        long inputWidth = ((FeedForwardLayer) denseNet.getLayer(0).conf().getLayer()).getNIn();
        int vocabulary = new CharWindows(corpus, 1).vocabulary();
        CharWindows data = new CharWindows(corpus, (int) (inputWidth / vocabulary));
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
        ModelSerializer.writeModel(moe, out.toFile(), true);
        double perStep = Math.max(1, steps) * 1e6;
        return new Result(targets.size(), denseBefore, moeBefore, taskLoss(denseNet, validation),
                taskLoss(moe, validation), denseNanos / perStep, moeNanos / perStep);
    }

    /** The score without the MoE layers' auxiliary terms, so dense and upcycled losses compare directly. */
    static double taskLoss(MultiLayerNetwork net, DataSet data) {
        double score = net.score(data);
        for (org.deeplearning4j.nn.api.Layer layer : net.getLayers()) {
            if (layer instanceof MoeLayerRuntime runtime) {
                score -= runtime.auxiliaryScore();
            }
        }
        return score;
    }
}
